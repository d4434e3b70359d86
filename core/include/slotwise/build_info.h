// What was built: the project version (CMake's project(VERSION)) and the git
// commit of the source tree at configure time ("" outside a git checkout or
// without git). Every binary's --version prints VersionLine(). Pure
// constants, safe from any thread.
#pragma once

#include <string>
#include <string_view>

namespace slotwise {

std::string_view ProjectVersion();
std::string_view GitCommit();
// "slotwise-agent 0.1.0 (git 1a2b3c4d5e6f)", or without the parenthesis
// when the commit is unknown.
std::string VersionLine(std::string_view program);

}  // namespace slotwise
