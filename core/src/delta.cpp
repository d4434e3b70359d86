// zstd patch-from deltas (see delta.h).
#include "slotwise/delta.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

namespace slotwise {
namespace {

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

// A whole file mapped read-only (size 0: no mapping, data() is a valid
// pointer to nothing).
class ReadMapping {
 public:
  ReadMapping() = default;
  ReadMapping(const ReadMapping&) = delete;
  ReadMapping& operator=(const ReadMapping&) = delete;
  ~ReadMapping() {
    if (data_ != nullptr && size_ > 0) munmap(data_, size_);
  }

  static Result<std::unique_ptr<ReadMapping>> Open(const std::filesystem::path& path) {
    auto m = std::make_unique<ReadMapping>();
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return MakeError(v1::NOT_FOUND, Errno("cannot open " + path.string()));
    struct stat st {};
    if (fstat(fd, &st) != 0) {
      ::close(fd);
      return MakeError(v1::NOT_FOUND, Errno("cannot stat " + path.string()));
    }
    m->size_ = static_cast<std::size_t>(st.st_size);
    if (m->size_ > 0) {
      void* p = mmap(nullptr, m->size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        ::close(fd);
        return MakeError(v1::INTERNAL, Errno("cannot map " + path.string()));
      }
      m->data_ = p;
      madvise(p, m->size_, MADV_SEQUENTIAL);
    }
    ::close(fd);
    return m;
  }

  const void* data() const { return data_ != nullptr ? data_ : static_cast<const void*>(&size_); }
  std::size_t size() const { return size_; }

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

// A new file of `size` bytes mapped read-write; Finish() truncates it to the
// bytes actually written and closes it.
class WriteMapping {
 public:
  WriteMapping(const WriteMapping&) = delete;
  WriteMapping& operator=(const WriteMapping&) = delete;
  ~WriteMapping() {
    if (data_ != nullptr) munmap(data_, size_);
    if (fd_ >= 0) ::close(fd_);
  }

  static Result<std::unique_ptr<WriteMapping>> Create(const std::filesystem::path& path, std::size_t size) {
    std::unique_ptr<WriteMapping> m(new WriteMapping());
    m->fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (m->fd_ < 0) return MakeError(v1::INTERNAL, Errno("cannot create " + path.string()));
    m->size_ = size;
    if (size == 0) return m;
    // Reserve the blocks now: a full disk fails here, not as SIGBUS later.
    if (const int rc = posix_fallocate(m->fd_, 0, static_cast<off_t>(size)); rc != 0) {
      errno = rc;
      return MakeError(v1::INTERNAL, Errno("cannot reserve " + std::to_string(size) + " bytes for " + path.string()));
    }
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd_, 0);
    if (p == MAP_FAILED) return MakeError(v1::INTERNAL, Errno("cannot map " + path.string()));
    m->data_ = p;
    return m;
  }

  void* data() { return data_; }

  Status Finish(std::size_t written, const std::filesystem::path& path) {
    if (data_ != nullptr) {
      if (msync(data_, size_, MS_SYNC) != 0) return MakeError(v1::INTERNAL, Errno("cannot write " + path.string()));
      munmap(data_, size_);
      data_ = nullptr;
    }
    if (ftruncate(fd_, static_cast<off_t>(written)) != 0 || fsync(fd_) != 0) {
      return MakeError(v1::INTERNAL, Errno("cannot write " + path.string()));
    }
    ::close(fd_);
    fd_ = -1;
    return OkStatus();
  }

 private:
  WriteMapping() = default;
  int fd_ = -1;
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

// The smallest window (log2) that reaches from the end of the target back
// to the first byte of the base.
// zstd.h's ZSTD_WINDOWLOG_MIN / _MAX_64, which it shows only to static linkers.
constexpr int kMinWindowLog = 10;
constexpr int kMaxWindowLog = 31;
static_assert(kMaxDeltaSpan == std::uint64_t{1} << kMaxWindowLog);

int WindowLogFor(std::uint64_t span) {
  int log = kMinWindowLog;
  while (log < kMaxWindowLog && (std::uint64_t{1} << log) < span) ++log;
  return log;
}

struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

}  // namespace

Result<DeltaBuilt> BuildDelta(const std::filesystem::path& base, const std::filesystem::path& target,
                              const std::filesystem::path& delta, const DeltaOptions& options) {
  auto base_map = ReadMapping::Open(base);
  if (!base_map) return base_map.error();
  auto target_map = ReadMapping::Open(target);
  if (!target_map) return target_map.error();
  const std::uint64_t span = std::uint64_t{(*base_map)->size()} + (*target_map)->size();
  if ((*target_map)->size() == 0) return MakeError(v1::INVALID_ARGUMENT, target.string() + " is empty");
  if (span > kMaxDeltaSpan) {
    return MakeError(v1::INVALID_ARGUMENT,
                     "base + target are " + std::to_string(span) + " bytes; a delta spans at most " +
                         std::to_string(kMaxDeltaSpan) + " (zstd's largest window, 2^31)");
  }
  const int window_log = WindowLogFor(span);
  std::unique_ptr<ZSTD_CCtx, CCtxFree> cctx(ZSTD_createCCtx());
  if (!cctx) return MakeError(v1::INTERNAL, "cannot create a zstd context");
  auto set = [&](ZSTD_cParameter p, int v) { return !ZSTD_isError(ZSTD_CCtx_setParameter(cctx.get(), p, v)); };
  if (!set(ZSTD_c_compressionLevel, options.level) || !set(ZSTD_c_windowLog, window_log) ||
      !set(ZSTD_c_enableLongDistanceMatching, 1) || !set(ZSTD_c_checksumFlag, 1) ||
      !set(ZSTD_c_contentSizeFlag, 1)) {
    return MakeError(v1::INVALID_ARGUMENT, "zstd refused the delta parameters (level " +
                                               std::to_string(options.level) + ", window 2^" +
                                               std::to_string(window_log) + ")");
  }
  if (const std::size_t rc = ZSTD_CCtx_refPrefix(cctx.get(), (*base_map)->data(), (*base_map)->size());
      ZSTD_isError(rc)) {
    return MakeError(v1::INTERNAL, std::string("zstd refPrefix: ") + ZSTD_getErrorName(rc));
  }
  std::filesystem::path tmp = delta;
  tmp += ".tmp";
  const std::size_t bound = ZSTD_compressBound((*target_map)->size());
  auto out = WriteMapping::Create(tmp, bound);
  if (!out) return out.error();
  const std::size_t written = ZSTD_compress2(cctx.get(), (*out)->data(), bound, (*target_map)->data(),
                                             (*target_map)->size());
  std::error_code ec;
  if (ZSTD_isError(written)) {
    std::filesystem::remove(tmp, ec);
    return MakeError(v1::INTERNAL, std::string("zstd compression failed: ") + ZSTD_getErrorName(written));
  }
  if (auto s = (*out)->Finish(written, tmp); !s) {
    std::filesystem::remove(tmp, ec);
    return s.error();
  }
  std::filesystem::rename(tmp, delta, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return MakeError(v1::INTERNAL, "cannot write " + delta.string() + ": " + ec.message());
  }
  return DeltaBuilt{written, window_log};
}

Status ApplyDelta(const std::filesystem::path& base, const std::filesystem::path& delta,
                  const std::filesystem::path& out, std::uint64_t expected_size) {
  auto base_map = ReadMapping::Open(base);
  if (!base_map) return base_map.error();
  auto delta_map = ReadMapping::Open(delta);
  if (!delta_map) return delta_map.error();
  const unsigned long long content = ZSTD_getFrameContentSize((*delta_map)->data(), (*delta_map)->size());
  if (content == ZSTD_CONTENTSIZE_ERROR) return MakeError(v1::FAILED_PRECONDITION, "the delta is not a zstd frame");
  if (content == ZSTD_CONTENTSIZE_UNKNOWN) {
    return MakeError(v1::FAILED_PRECONDITION, "the delta does not declare its content size");
  }
  if (content != expected_size) {
    return MakeError(v1::FAILED_PRECONDITION, "the delta makes " + std::to_string(content) + " bytes, expected " +
                                                  std::to_string(expected_size));
  }
  std::unique_ptr<ZSTD_DCtx, DCtxFree> dctx(ZSTD_createDCtx());
  if (!dctx) return MakeError(v1::INTERNAL, "cannot create a zstd context");
  ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, kMaxWindowLog);
  if (const std::size_t rc = ZSTD_DCtx_refPrefix(dctx.get(), (*base_map)->data(), (*base_map)->size());
      ZSTD_isError(rc)) {
    return MakeError(v1::INTERNAL, std::string("zstd refPrefix: ") + ZSTD_getErrorName(rc));
  }
  auto mapped = WriteMapping::Create(out, static_cast<std::size_t>(expected_size));
  std::error_code ec;
  if (!mapped) {
    std::filesystem::remove(out, ec);
    return mapped.error();
  }
  const std::size_t got = ZSTD_decompressDCtx(dctx.get(), (*mapped)->data(), static_cast<std::size_t>(expected_size),
                                              (*delta_map)->data(), (*delta_map)->size());
  if (ZSTD_isError(got) || got != expected_size) {
    mapped->reset();
    std::filesystem::remove(out, ec);
    return MakeError(v1::FAILED_PRECONDITION,
                     std::string("the delta does not apply to this base: ") +
                         (ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short output"));
  }
  if (auto s = (*mapped)->Finish(got, out); !s) {
    mapped->reset();
    std::filesystem::remove(out, ec);
    return s.error();
  }
  return OkStatus();
}

}  // namespace slotwise
