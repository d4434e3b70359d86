// The wire-format walk of wire_scan.h. Where a rule below looks arbitrary,
// it is protobuf 3.21's (google/protobuf/parse_context.h: ReadTag,
// VarintParse, ReadSize, ParseGroup, and the generated _InternalParse).
#include "slotwise/broker/wire_scan.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/stubs/common.h>

#include <bit>
#include <cstring>
#include <stdexcept>
#include <string>

namespace slotwise::broker {
namespace {

namespace pb = google::protobuf;

// ParseFromArray's default recursion limit: how deep messages and groups
// may nest below the root.
constexpr int kRecursionLimit = 100;
// Schemas nest far less; deeper means a recursive message type.
constexpr int kMaxSchemaDepth = 8;

constexpr unsigned kVarintWire = 0;
constexpr unsigned kFixed64Wire = 1;
constexpr unsigned kLengthWire = 2;
constexpr unsigned kStartGroupWire = 3;
constexpr unsigned kEndGroupWire = 4;
constexpr unsigned kFixed32Wire = 5;

static_assert(std::endian::native == std::endian::little,
              "fixed32/fixed64 are loaded as little-endian host words");

[[noreturn]] void Refuse(const pb::Descriptor& message, const std::string& why) {
  throw std::invalid_argument("WireScan: " + message.full_name() + ": " + why);
}

}  // namespace

// One scan: a cursor, the recursion budget and the values being collected.
class WireScan::Walker {
 public:
  Walker(const WireScan& scan, Values& values, const ElementCheck* check)
      : scan_(scan), values_(values), check_(check) {}

  // The fields of `message` from p up to exactly `end`.
  bool Message(const WireScan::Message& message, const std::uint8_t*& p, const std::uint8_t* end) {
    while (p != end) {
      std::uint32_t tag = 0;
      if (!Tag(p, end, tag)) return false;
      // Tag 0 and END_GROUP end a message early, which fails outside a group.
      if (tag == 0 || (tag & 7) == kEndGroupWire) return false;
      const std::uint32_t number = tag >> 3;
      const unsigned wire = tag & 7;
      const Field* field = Find(message, number);
      const bool known = field && field->wire == wire;
      if (!(known ? Known(*field, p, end) : Unknown(number, wire, p, end))) return false;
    }
    return true;
  }

 private:
  static const Field* Find(const WireScan::Message& message, std::uint32_t number) {
    if (number >= message.by_number.size()) return nullptr;
    const std::int8_t at = message.by_number[number];
    return at < 0 ? nullptr : &message.fields[static_cast<std::size_t>(at)];
  }

  // A varint of at most kMaxBytes bytes, kept to the low bits of Int (as
  // protobuf keeps a 5-byte tag to 32 bits and a 10-byte varint to 64).
  template <class Int, unsigned kMaxBytes>
  static bool ReadVarint(const std::uint8_t*& p, const std::uint8_t* end, Int& out) {
    Int value = 0;
    for (unsigned i = 0; i < kMaxBytes && p != end; ++i) {
      const std::uint8_t byte = *p++;
      value |= static_cast<Int>(static_cast<Int>(byte & 0x7F) << (7 * i));
      if (byte < 0x80) {
        out = value;
        return true;
      }
    }
    return false;
  }

  // Callers make sure p != end.
  static bool Tag(const std::uint8_t*& p, const std::uint8_t* end, std::uint32_t& tag) {
    if (*p < 0x80) {  // the common case: fields 1-15
      tag = *p++;
      return true;
    }
    return ReadVarint<std::uint32_t, 5>(p, end, tag);
  }

  static bool Varint(const std::uint8_t*& p, const std::uint8_t* end, std::uint64_t& out) {
    return ReadVarint<std::uint64_t, 10>(p, end, out);
  }

  // A length prefix: at most 5 bytes (read without truncation, so the 5th
  // byte's high bits, which protobuf refuses, make it too long), and the
  // bytes it announces must be there.
  static bool Length(const std::uint8_t*& p, const std::uint8_t* end, std::size_t& out) {
    std::uint64_t value = 0;
    if (!ReadVarint<std::uint64_t, 5>(p, end, value) || value > static_cast<std::uint64_t>(end - p)) {
      return false;
    }
    out = static_cast<std::size_t>(value);
    return true;
  }

  // Protobuf's own UTF-8 rules, after a quick pass for the common all-ASCII
  // string.
  static bool Utf8(const std::uint8_t* p, std::size_t size) {
    std::size_t i = 0;
    for (; i + 8 <= size; i += 8) {
      std::uint64_t word;
      std::memcpy(&word, p + i, sizeof word);
      if (word & 0x8080808080808080ULL) break;
    }
    for (; i < size && p[i] < 0x80; ++i) {
    }
    return i == size || pb::internal::IsStructurallyValidUTF8(reinterpret_cast<const char*>(p),
                                                              static_cast<int>(size));
  }

  template <class Word>
  static bool Fixed(const std::uint8_t*& p, const std::uint8_t* end, std::uint64_t& out) {
    if (static_cast<std::size_t>(end - p) < sizeof(Word)) return false;
    Word word;
    std::memcpy(&word, p, sizeof word);
    p += sizeof word;
    out = word;
    return true;
  }

  bool Known(const Field& field, const std::uint8_t*& p, const std::uint8_t* end) {
    std::uint64_t raw = 0;
    switch (field.kind) {
      case Kind::kVarint:
        if (!Varint(p, end, raw)) return false;
        break;
      case Kind::kFixed64:
        if (!Fixed<std::uint64_t>(p, end, raw)) return false;
        break;
      case Kind::kFixed32:
        if (!Fixed<std::uint32_t>(p, end, raw)) return false;
        break;
      case Kind::kString:
      case Kind::kBytes: {
        std::size_t size = 0;
        if (!Length(p, end, size)) return false;
        if (field.kind == Kind::kString && !Utf8(p, size)) return false;
        values_.data[field.index] = p;
        p += size;
        raw = size;
        break;
      }
      case Kind::kMessage: {
        std::size_t size = 0;
        if (!Length(p, end, size) || --depth_ < 0) return false;
        const std::uint8_t* message_end = p + size;
        const WireScan::Message& message = scan_.messages_[static_cast<std::size_t>(field.message)];
        if (field.repeated) Reset(message);
        if (!Message(message, p, message_end)) return false;
        ++depth_;
        if (field.repeated) return Element(field);
        break;
      }
    }
    values_.raw[field.index] = raw;
    values_.present |= 1U << field.index;
    return true;
  }

  // A new element of a repeated field starts from its fields' defaults.
  void Reset(const WireScan::Message& message) {
    for (std::size_t i = message.first_value; i < message.end_value; ++i) {
      values_.raw[i] = 0;
      values_.data[i] = nullptr;
      values_.present &= ~(1U << i);
    }
  }

  // One more element of repeated `field`, scanned: count it, let the caller check it.
  bool Element(const Field& field) {
    ++values_.raw[field.index];
    values_.present |= 1U << field.index;
    return !check_ || check_->Element(field.index, values_);
  }

  // An unknown field (or a known one with a foreign wire type): its shape
  // only. An END_GROUP here is the caller's business.
  bool Unknown(std::uint32_t number, unsigned wire, const std::uint8_t*& p, const std::uint8_t* end) {
    if (number == 0) return false;
    std::uint64_t ignored = 0;
    std::size_t size = 0;
    switch (wire) {
      case kVarintWire: return Varint(p, end, ignored);
      case kFixed64Wire: return Fixed<std::uint64_t>(p, end, ignored);
      case kFixed32Wire: return Fixed<std::uint32_t>(p, end, ignored);
      case kLengthWire:
        if (!Length(p, end, size)) return false;
        p += size;
        return true;
      case kStartGroupWire: return Group(number, p, end);
      default: return false;  // 6 and 7 do not exist
    }
  }

  // An unknown group: unknown fields up to the END_GROUP of the same number.
  bool Group(std::uint32_t number, const std::uint8_t*& p, const std::uint8_t* end) {
    if (--depth_ < 0) return false;
    while (p != end) {
      std::uint32_t tag = 0;
      if (!Tag(p, end, tag) || tag == 0) return false;
      if ((tag & 7) == kEndGroupWire) {
        ++depth_;
        return (tag >> 3) == number;
      }
      if (!Unknown(tag >> 3, tag & 7, p, end)) return false;
    }
    return false;  // the message ended inside the group
  }

  const WireScan& scan_;
  Values& values_;
  const ElementCheck* check_;
  int depth_ = kRecursionLimit;
};

WireScan::WireScan(const pb::Descriptor& root) { AddMessage(root, 0, false); }

std::int16_t WireScan::AddMessage(const pb::Descriptor& message, int depth, bool in_element) {
  if (depth > kMaxSchemaDepth) Refuse(message, "nested too deep (a recursive message?)");
  if (message.file()->syntax() != pb::FileDescriptor::SYNTAX_PROTO3) Refuse(message, "not proto3");
  const auto id = static_cast<std::int16_t>(messages_.size());
  messages_.emplace_back();
  WireScan::Message fields;
  fields.by_number.assign(kMaxFieldNumber, -1);
  fields.first_value = static_cast<std::uint8_t>(field_count_);
  for (int i = 0; i < message.field_count(); ++i) {
    const pb::FieldDescriptor& fd = *message.field(i);
    if (fd.is_repeated() && (fd.type() != pb::FieldDescriptor::TYPE_MESSAGE || fd.is_map())) {
      Refuse(message, fd.name() + ": only repeated message fields are supported");
    }
    if (fd.is_repeated() && in_element) {
      Refuse(message, fd.name() + ": a repeated field inside a repeated element");
    }
    if (fd.real_containing_oneof()) Refuse(message, fd.name() + ": oneofs are not supported");
    if (field_count_ == kMaxFields) Refuse(message, "more than kMaxFields fields");
    if (static_cast<std::uint32_t>(fd.number()) >= kMaxFieldNumber) {
      Refuse(message, fd.name() + ": field number too large");
    }
    Field field;
    field.number = static_cast<std::uint32_t>(fd.number());
    field.index = static_cast<std::uint8_t>(field_count_++);
    field.name = fd.name();
    field.repeated = fd.is_repeated();
    switch (fd.type()) {
      case pb::FieldDescriptor::TYPE_INT32:
      case pb::FieldDescriptor::TYPE_INT64:
      case pb::FieldDescriptor::TYPE_UINT32:
      case pb::FieldDescriptor::TYPE_UINT64:
      case pb::FieldDescriptor::TYPE_SINT32:
      case pb::FieldDescriptor::TYPE_SINT64:
      case pb::FieldDescriptor::TYPE_BOOL:
      case pb::FieldDescriptor::TYPE_ENUM: field.kind = Kind::kVarint; break;
      case pb::FieldDescriptor::TYPE_FIXED64:
      case pb::FieldDescriptor::TYPE_SFIXED64:
      case pb::FieldDescriptor::TYPE_DOUBLE: field.kind = Kind::kFixed64; break;
      case pb::FieldDescriptor::TYPE_FIXED32:
      case pb::FieldDescriptor::TYPE_SFIXED32:
      case pb::FieldDescriptor::TYPE_FLOAT: field.kind = Kind::kFixed32; break;
      case pb::FieldDescriptor::TYPE_STRING:
        field.kind = Kind::kString;
        if (!in_element) string_fields_.push_back(field.index);
        break;
      case pb::FieldDescriptor::TYPE_BYTES: field.kind = Kind::kBytes; break;
      case pb::FieldDescriptor::TYPE_MESSAGE:
        field.kind = Kind::kMessage;
        field.message = AddMessage(*fd.message_type(), depth + 1, in_element || field.repeated);
        break;
      case pb::FieldDescriptor::TYPE_GROUP: Refuse(message, fd.name() + ": groups are not supported");
    }
    field.wire = static_cast<std::uint8_t>(WireTypeOf(field.kind));
    fields.by_number[field.number] = static_cast<std::int8_t>(fields.fields.size());
    fields.fields.push_back(field);
  }
  fields.end_value = static_cast<std::uint8_t>(field_count_);
  messages_[static_cast<std::size_t>(id)] = std::move(fields);
  return id;
}

unsigned WireScan::WireTypeOf(Kind kind) {
  switch (kind) {
    case Kind::kVarint: return kVarintWire;
    case Kind::kFixed64: return kFixed64Wire;
    case Kind::kFixed32: return kFixed32Wire;
    case Kind::kString:
    case Kind::kBytes:
    case Kind::kMessage: return kLengthWire;
  }
  return kLengthWire;
}

std::size_t WireScan::FieldIndex(std::string_view path) const {
  const Message* message = &messages_.front();
  std::string_view rest = path;
  while (true) {
    const std::size_t dot = rest.find('.');
    const std::string_view name = rest.substr(0, dot);
    const Field* found = nullptr;
    for (const Field& f : message->fields) {
      if (f.name == name) found = &f;
    }
    if (!found) throw std::invalid_argument("WireScan: no field " + std::string(path));
    if (dot == std::string_view::npos) return found->index;
    if (found->kind != Kind::kMessage) {
      throw std::invalid_argument("WireScan: not a message field in " + std::string(path));
    }
    message = &messages_[static_cast<std::size_t>(found->message)];
    rest.remove_prefix(dot + 1);
  }
}

bool WireScan::Scan(const void* data, std::size_t size, Values& values,
                    const ElementCheck* check) const {
  values = Values{};
  if (size == 0) return true;
  if (data == nullptr) return false;
  const auto* p = static_cast<const std::uint8_t*>(data);
  return Walker(*this, values, check).Message(messages_.front(), p, p + size);
}

}  // namespace slotwise::broker
