#include "security/access_scope.h"

#include <algorithm>
#include <cctype>

namespace tresor::security {

AccessScope AccessScope::Of(const std::vector<std::string>& groups) {
  AccessScope s;
  s.all = std::find(groups.begin(), groups.end(), kAllStudiesGroup) != groups.end();
  if (!s.all) {
    s.groups = groups;
    std::sort(s.groups.begin(), s.groups.end());
    s.groups.erase(std::unique(s.groups.begin(), s.groups.end()), s.groups.end());
  }
  return s;
}

AccessScope AccessScope::Intersect(const AccessScope& other) const {
  if (all) return other;
  if (other.all) return *this;
  AccessScope s;
  std::set_intersection(groups.begin(), groups.end(), other.groups.begin(), other.groups.end(),
                        std::back_inserter(s.groups));
  return s;
}

Status ValidateGroupName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 64 &&
            std::all_of(name.begin(), name.end(), [](unsigned char c) {
              return std::isalnum(c) || c == '.' || c == '_' || c == '-';
            });
  if (!ok) {
    return InvalidArgument("access group name '" + name +
                           "' must have 1-64 letters, digits, '.', '_' or '-'");
  }
  return Status::Ok();
}

Status ValidateGroupNames(const std::vector<std::string>& names) {
  for (const std::string& name : names) TRESOR_RETURN_IF_ERROR(ValidateGroupName(name));
  return Status::Ok();
}

Status ValidateStudyGroup(const std::string& name) {
  TRESOR_RETURN_IF_ERROR(ValidateGroupName(name));
  if (name == kAllStudiesGroup) {
    return InvalidArgument("'all' is reserved: its members see every study");
  }
  return Status::Ok();
}

Result<std::vector<std::string>> ParseGroupList(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string name = text.substr(start, end - start);
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    if (!name.empty() || end < text.size()) {
      TRESOR_RETURN_IF_ERROR(ValidateGroupName(name));
      out.push_back(name);
    }
    start = end + 1;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string FormatGroupList(const std::vector<std::string>& groups) {
  std::string out;
  for (const std::string& g : groups) out += (out.empty() ? "" : ",") + g;
  return out;
}

}  // namespace tresor::security
