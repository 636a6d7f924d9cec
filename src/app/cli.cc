#include "app/cli.h"

#include <iostream>

namespace tresor::app {

Result<Args> ParseArgs(int argc, char** argv, int first) {
  Args a;
  for (int i = first; i < argc; ++i) {
    std::string s = argv[i];
    if (s == "--help" || s == "-h") {
      a.help = true;
    } else if (s == "--password-stdin" || s == "--require-identity") {
      a.flags[s.substr(2)] = "";
    } else if (s.rfind("--", 0) == 0) {
      std::string name = s.substr(2), value;
      size_t eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return InvalidArgument("option --" + name + " needs a value");
      }
      a.flags[name] = value;
    } else {
      a.positional.push_back(s);
    }
  }
  return a;
}

Status CheckFlags(const Args& a, std::initializer_list<const char*> allowed) {
  for (const auto& [name, value] : a.flags) {
    bool ok = name == "data" || name == "master-key";
    for (const char* n : allowed) ok |= name == n;
    if (!ok) return InvalidArgument("unknown option --" + name);
  }
  return Status::Ok();
}

Result<int> ParsePort(const std::string& text) {
  try {
    size_t used = 0;
    int p = std::stoi(text, &used);
    if (used == text.size() && p >= 0 && p <= 65535) return p;
  } catch (...) {
  }
  return InvalidArgument("not a port number: " + text);
}

Result<int> IntFlag(const Args& a, const std::string& name, int fallback) {
  auto it = a.flags.find(name);
  if (it == a.flags.end()) return fallback;
  try {
    size_t used = 0;
    int n = std::stoi(it->second, &used);
    if (used == it->second.size()) return n;
  } catch (...) {
  }
  return InvalidArgument("--" + name + " needs a number");
}

int Fail(const Status& s) {
  std::cerr << "tresor: " << s.message() << "\n";
  return s.code() == Code::kInvalidArgument ? 2 : 1;
}

}  // namespace tresor::app
