#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <thread>

#include "operator_client.h"
#include "slotwise/log.h"
#include "slotwise/sha256.h"
#include "slotwise/signature.h"
#include "table.h"

#include "command_support.h"

namespace slotwise::cli {

std::string Json(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  o.always_print_primitive_fields = true;
  o.always_print_enums_as_ints = false;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out;
}

std::string FormatTime(std::int64_t ms) {
  if (ms == 0) return "-";
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03lldZ", buf, static_cast<long long>(ms % 1000));
  return out;
}

std::string Fixed(double v, int digits) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(digits);
  s << v;
  return s.str();
}

std::string StateName(v1::Status::State s) {
  return s == v1::Status::STATE_UNSPECIFIED ? "-" : v1::Status::State_Name(s);
}

namespace {
bool g_json_output = false;

std::string JsonString(const std::string& s) {
  google::protobuf::Value v;
  v.set_string_value(s);
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(v, &out);
  return out;
}
}  // namespace

void SetJsonOutput(bool json) { g_json_output = json; }
bool JsonOutput() { return g_json_output; }

int ReportError(const Error& error, int exit_code, std::string_view prefix) {
  if (g_json_output) {
    std::cerr << "{\"error\":{\"code\":\"" << v1::ErrorCode_Name(error.code) << "\",\"message\":"
              << JsonString(error.message) << "},\"exitCode\":" << exit_code << "}\n";
  } else {
    std::cerr << "slotwise: " << prefix << error.message << "\n";
  }
  return exit_code;
}

void PrintAck(const std::string& done) {
  if (g_json_output) {
    std::cout << "{\"ack\":{},\"message\":" << JsonString(done) << "}\n";
  } else {
    std::cout << done << "\n";
  }
}

int Call(OperatorClient& client, const v1::OperatorRequest& req,
         const std::function<int(const v1::OperatorReply&)>& on_reply) {
  auto reply = client.Call(req);
  if (!reply) return ReportError(reply.error(), kExitUnreachable);
  if (reply->has_error()) {
    return ReportError(Error{reply->error().code(), reply->error().message()}, kExitRefused,
                       "error: " + v1::ErrorCode_Name(reply->error().code()) + ": ");
  }
  return on_reply(*reply);
}

Action AckAction(v1::OperatorRequest req, std::string done) {
  return [req = std::move(req), done = std::move(done)](OperatorClient& c) {
    return Call(c, req, [&](const v1::OperatorReply&) {
      PrintAck(done);
      return kExitOk;
    });
  };
}

std::vector<std::string> SplitCsv(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

Result<std::vector<std::string>> ReadIdFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return MakeError(v1::NOT_FOUND, "cannot read " + path);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    const auto b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos) continue;
    const auto e = line.find_last_not_of(" \t\r");
    out.push_back(line.substr(b, e - b + 1));
  }
  return out;
}

}  // namespace slotwise::cli
