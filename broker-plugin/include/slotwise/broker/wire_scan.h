// WireScan: what protobuf's ParseFromArray() would decide about an encoded
// proto3 message, decided by walking the wire format once, without building
// the message, and the final value of each of its fields for value checks.
// The broker validates every message a terminal publishes on its hot path;
// this walk costs a fraction of a parse into a generated message.
//
// It follows protobuf 3.21's parser (checked side by side with
// ParseFromArray by tests/plugin/wire_scan_test.cpp and by the libFuzzer
// target tests/plugin/fuzz_validate.cpp):
//  * a tag is a varint of at most 5 bytes, kept to its low 32 bits; tag 0,
//    an END_GROUP outside its group, field number 0 and wire types 6 and 7
//    fail;
//  * a varint has at most 10 bytes; fixed32/fixed64 need 4/8 bytes; a
//    length prefix has at most 5 bytes (the 5th below 8); nothing may run
//    past the end of its enclosing message;
//  * a known field with another wire type than its own counts as unknown;
//    unknown fields (groups too) are checked for shape only, and accepted;
//  * known strings must be valid UTF-8 (proto3); known message fields are
//    scanned with their own fields; nesting of messages and groups deeper
//    than 100 fails;
//  * the last occurrence of a field wins, and the occurrences of a message
//    field merge (so location.lat is the last lat of any location).
//
// Schemas: proto3 messages of singular fields (numbers, bools, enums,
// strings, bytes, messages) and repeated message fields (each occurrence is
// one element, scanned on its own: its fields start from their defaults),
// with at most kMaxFields fields in all, nested ones included, numbered
// below kMaxFieldNumber. Repeated scalars (packed or not), maps, oneofs,
// groups, proto2, recursive messages and a repeated field inside a repeated
// element are refused by the constructor (std::invalid_argument), so a
// schema change that needs more fails in the unit tests rather than passing
// unchecked at the edge.
//
// Pure code, no mosquitto types. A WireScan is immutable after
// construction: Scan() is safe from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace google::protobuf {
class Descriptor;
}

namespace slotwise::broker {

class WireScan {
 public:
  static constexpr std::size_t kMaxFields = 16;
  static constexpr std::uint32_t kMaxFieldNumber = 128;

  // The outcome of a scan: the last value of every field, by field index
  // (FieldIndex()). A field never seen keeps raw 0, which is also its
  // proto3 default (0, false, 0.0, empty).
  struct Values {
    // Numbers: the varint as read, or the bits of a fixed32/fixed64 (float,
    // double); strings and bytes: the length in bytes; messages: 0;
    // repeated messages: the number of elements.
    std::array<std::uint64_t, kMaxFields> raw{};
    // Strings and bytes: where the last value's bytes start (inside the
    // scanned buffer); nullptr otherwise.
    std::array<const std::uint8_t*, kMaxFields> data{};
    // Bit i: field i occurred with its own wire type.
    std::uint32_t present = 0;

    bool Has(std::size_t index) const { return (present >> index) & 1U; }
    // The bytes of string or bytes field `index` ("" when never seen).
    std::string_view Text(std::size_t index) const {
      return data[index] ? std::string_view(reinterpret_cast<const char*>(data[index]),
                                            static_cast<std::size_t>(raw[index]))
                         : std::string_view{};
    }
  };

  // Value checks on the elements of repeated message fields: Element() is
  // called after each element was scanned, with `values` holding that
  // element's fields (reset before it; the other fields hold what was seen
  // so far, the repeated field's raw value counts the elements including
  // this one). Returning false fails the scan. Not protobuf's business:
  // Scan() without one decides exactly what ParseFromArray decides.
  class ElementCheck {
   public:
    virtual bool Element(std::size_t repeated_field, const Values& values) const = 0;

   protected:
    ~ElementCheck() = default;
  };

  explicit WireScan(const google::protobuf::Descriptor& root);

  // The index of the field at a dotted path of field names from the root,
  // e.g. "location.lat". Throws std::invalid_argument for an unknown path.
  std::size_t FieldIndex(std::string_view path) const;
  // The indices of every string field, nested ones included, but those
  // inside the elements of a repeated field (an ElementCheck sees those).
  const std::vector<std::size_t>& string_fields() const { return string_fields_; }

  // True when ParseFromArray would accept the `size` bytes at `data` (and
  // `check`, if given, every element of a repeated field); `values` then
  // holds the fields' final values (it is reset first).
  bool Scan(const void* data, std::size_t size, Values& values,
            const ElementCheck* check = nullptr) const;

 private:
  enum class Kind : std::uint8_t { kVarint, kFixed64, kFixed32, kString, kBytes, kMessage };
  struct Field {
    std::uint32_t number = 0;
    Kind kind = Kind::kVarint;
    std::uint8_t wire = 0;        // its wire type
    std::uint8_t index = 0;       // into Values
    std::int16_t message = -1;    // into messages_, for kMessage
    bool repeated = false;        // a repeated message field
    std::string_view name;        // the descriptor's, which outlives us
  };
  struct Message {
    std::vector<Field> fields;
    std::vector<std::int8_t> by_number;  // field number -> index in fields, or -1
    // The Values indices of its fields, nested ones included: [first, end).
    std::uint8_t first_value = 0;
    std::uint8_t end_value = 0;
  };
  class Walker;

  // Adds the message's fields (and nested messages') and returns its index
  // in messages_.
  // `in_element`: inside the element of a repeated field.
  std::int16_t AddMessage(const google::protobuf::Descriptor& message, int depth, bool in_element);
  static unsigned WireTypeOf(Kind kind);

  std::vector<Message> messages_;  // [0] is the root
  std::vector<std::size_t> string_fields_;
  std::size_t field_count_ = 0;
};

}  // namespace slotwise::broker
