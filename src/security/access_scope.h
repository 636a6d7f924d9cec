// Per-study access scope: which studies a caller may see.
//
// Studies carry access groups (assigned at store time by rule, or by the administrator);
// users and peers are members of groups. A caller sees a study if the study is in at
// least one of the caller's groups, or if the caller is a member of the reserved group
// "all". Group names are 1-64 characters of letters, digits, '.', '_' and '-'.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace tresor::security {

// The reserved group whose members see every study.
inline constexpr const char* kAllStudiesGroup = "all";

struct AccessScope {
  bool all = false;                 // every study (member of "all")
  std::vector<std::string> groups;  // otherwise: studies in any of these (sorted, unique)

  static AccessScope Everything() { return AccessScope{true, {}}; }
  // The scope of a member of `groups` ("all" among them: every study).
  static AccessScope Of(const std::vector<std::string>& groups);
  // Studies visible under both scopes (a user acting through a peer sees what both see).
  AccessScope Intersect(const AccessScope& other) const;
  bool Empty() const { return !all && groups.empty(); }
};

// Checks one group name.
Status ValidateGroupName(const std::string& name);
// Checks every name of a membership list ("all" allowed).
Status ValidateGroupNames(const std::vector<std::string>& names);
// Checks a group that studies are put into: a valid name other than "all".
Status ValidateStudyGroup(const std::string& name);
// "a,b" (spaces around names ignored; empty text: no groups) to sorted unique names.
Result<std::vector<std::string>> ParseGroupList(const std::string& text);
// Names joined with ',' ("" for none).
std::string FormatGroupList(const std::vector<std::string>& groups);

}  // namespace tresor::security
