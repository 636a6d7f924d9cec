// dicom::TagValues: a few attribute values keyed by tag, kept in tag order.
//
// The values of one data set scan or one query match: a dozen to a few dozen entries,
// written once (usually in tag order) and read by lookup or in order. A sorted vector
// holds them in one allocation where a std::map would allocate a node per entry; lookup
// is a binary search. The interface is the part of std::map's that these uses need:
// find/end, operator[], at, count, iteration in tag order.
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace tresor::dicom {

class TagValues {
 public:
  using TagKey = uint32_t;
  using value_type = std::pair<TagKey, std::string>;
  using iterator = std::vector<value_type>::iterator;
  using const_iterator = std::vector<value_type>::const_iterator;

  TagValues() = default;
  // Entries in any order; a repeated tag keeps its first value.
  TagValues(std::initializer_list<value_type> entries) {
    for (const value_type& e : entries) {
      if (find(e.first) == end()) (*this)[e.first] = e.second;
    }
  }

  iterator begin() { return entries_.begin(); }
  iterator end() { return entries_.end(); }
  const_iterator begin() const { return entries_.begin(); }
  const_iterator end() const { return entries_.end(); }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  void reserve(size_t n) { entries_.reserve(n); }
  void clear() { entries_.clear(); }

  iterator find(TagKey tag) {
    iterator it = LowerBound(tag);
    return it != entries_.end() && it->first == tag ? it : entries_.end();
  }
  const_iterator find(TagKey tag) const {
    const_iterator it = LowerBound(tag);
    return it != entries_.end() && it->first == tag ? it : entries_.end();
  }
  size_t count(TagKey tag) const { return find(tag) == end() ? 0 : 1; }

  // The value of `tag`, inserted empty if absent. Appending in tag order costs no search.
  std::string& operator[](TagKey tag) {
    if (entries_.empty() || entries_.back().first < tag) {
      return entries_.emplace_back(tag, std::string()).second;
    }
    iterator it = LowerBound(tag);
    if (it != entries_.end() && it->first == tag) return it->second;
    return entries_.emplace(it, tag, std::string())->second;
  }

  // The value of `tag`; std::out_of_range if absent (as std::map::at).
  const std::string& at(TagKey tag) const {
    const_iterator it = find(tag);
    if (it == end()) throw std::out_of_range("TagValues::at: no such tag");
    return it->second;
  }

  bool operator==(const TagValues& other) const { return entries_ == other.entries_; }
  bool operator!=(const TagValues& other) const { return !(*this == other); }

 private:
  iterator LowerBound(TagKey tag) {
    return std::lower_bound(entries_.begin(), entries_.end(), tag,
                            [](const value_type& e, TagKey t) { return e.first < t; });
  }
  const_iterator LowerBound(TagKey tag) const {
    return std::lower_bound(entries_.begin(), entries_.end(), tag,
                            [](const value_type& e, TagKey t) { return e.first < t; });
  }

  std::vector<value_type> entries_;  // sorted by tag, tags unique
};

}  // namespace tresor::dicom
