#include "slotwise/agent/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace slotwise::agent {
namespace {

Error IoError(const std::string& what, const std::filesystem::path& path) {
  return MakeError(v1::INTERNAL, what + " " + path.string() + ": " + std::strerror(errno));
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

}  // namespace

slotwise::Status WriteFileAtomically(const std::filesystem::path& path, std::string_view bytes) {
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  std::filesystem::path tmp = path;
  tmp += ".tmp";

  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) return IoError("cannot create", tmp);
  const char* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(fd.get(), p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      Error e = IoError("cannot write", tmp);
      ::unlink(tmp.c_str());
      return e;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  // The data must be on disk before the rename makes it the file's content,
  // or power loss could leave a renamed but empty file.
  if (::fsync(fd.get()) != 0) {
    Error e = IoError("cannot fsync", tmp);
    ::unlink(tmp.c_str());
    return e;
  }
  if (::close(fd.release()) != 0) {
    Error e = IoError("cannot close", tmp);
    ::unlink(tmp.c_str());
    return e;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Error e = IoError("cannot rename onto", path);
    ::unlink(tmp.c_str());
    return e;
  }
  // The rename itself lives in the directory; without this it may be lost.
  Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0 || ::fsync(dir_fd.get()) != 0) return IoError("cannot fsync directory", dir);
  return OkStatus();
}

Result<std::string> ReadWholeFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return MakeError(v1::NOT_FOUND, "no such file: " + path.string());
    return MakeError(v1::INTERNAL, "cannot open " + path.string());
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) return MakeError(v1::INTERNAL, "cannot read " + path.string());
  return content.str();
}

Result<std::string> ReadVersionFile(const std::filesystem::path& path) {
  auto content = ReadWholeFile(path);
  if (!content) return content.error();
  std::string_view text = *content;
  text = text.substr(0, text.find('\n'));
  constexpr std::string_view kBlank = " \t\r\n";
  const auto first = text.find_first_not_of(kBlank);
  if (first == std::string_view::npos) {
    return MakeError(v1::INVALID_ARGUMENT, "version file " + path.string() + " is empty");
  }
  text = text.substr(first, text.find_last_not_of(kBlank) - first + 1);
  return std::string(text);
}

slotwise::Status WriteVersionFile(const std::filesystem::path& path, std::string_view version) {
  std::string content(version);
  content += '\n';
  return WriteFileAtomically(path, content);
}

}  // namespace slotwise::agent
