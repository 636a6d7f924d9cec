#include "dicomweb/qido.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "dicomweb/json_values.h"

namespace tresor::dicomweb {
namespace {

using dicom::Condition;
using dicom::MakeTag;
using dicom::QueryLevel;

constexpr dicom::TagKey kPatientName = MakeTag(0x0010, 0x0010);
constexpr dicom::TagKey kPatientId = MakeTag(0x0010, 0x0020);
constexpr dicom::TagKey kStudyUid = MakeTag(0x0020, 0x000D);
constexpr dicom::TagKey kSeriesUid = MakeTag(0x0020, 0x000E);
constexpr dicom::TagKey kStudyDate = MakeTag(0x0008, 0x0020);
constexpr dicom::TagKey kModalities = MakeTag(0x0008, 0x0061);
constexpr dicom::TagKey kDescription = MakeTag(0x0008, 0x1030);
constexpr dicom::TagKey kModality = MakeTag(0x0008, 0x0060);

Result<QidoRequest> Parse(QidoTarget target, std::string_view query, std::string study = "",
                          std::string series = "") {
  return ParseQidoRequest(target, study, series, query, DicomWebOptions{});
}

const Condition* ConditionOn(const QidoRequest& r, dicom::TagKey tag) {
  for (const Condition& c : r.query.conditions) {
    if (c.attribute->tag == tag) return &c;
  }
  return nullptr;
}

bool Has(const std::vector<dicom::TagKey>& tags, dicom::TagKey tag) {
  return std::find(tags.begin(), tags.end(), tag) != tags.end();
}

TEST(ParseQidoRequest, KeywordAndTagGiveTheSameCondition) {
  auto by_keyword = Parse(QidoTarget::kStudies, "PatientID=PID01");
  auto by_tag = Parse(QidoTarget::kStudies, "00100020=PID01");
  auto lower_hex = Parse(QidoTarget::kStudies, "0020000d=1.2.3");
  ASSERT_TRUE(by_keyword.ok() && by_tag.ok() && lower_hex.ok());
  for (const QidoRequest* r : {&*by_keyword, &*by_tag}) {
    EXPECT_EQ(r->query.level, QueryLevel::kStudy);
    ASSERT_EQ(r->query.conditions.size(), 1u);
    EXPECT_EQ(r->query.conditions[0].attribute->tag, kPatientId);
    EXPECT_EQ(r->query.conditions[0].kind, Condition::Kind::kSingle);
    EXPECT_EQ(r->query.conditions[0].value, "PID01");
  }
  ASSERT_NE(ConditionOn(*lower_hex, kStudyUid), nullptr);
}

TEST(ParseQidoRequest, PercentDecodedUtf8AndWildcards) {
  auto r = Parse(QidoTarget::kStudies, "PatientName=M%C3%BC*&StudyDescription=Chest+PA");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const Condition* name = ConditionOn(*r, kPatientName);
  ASSERT_NE(name, nullptr);
  EXPECT_EQ(name->kind, Condition::Kind::kWildcard);
  EXPECT_EQ(name->value, "M\xC3\xBC*");
  EXPECT_EQ(ConditionOn(*r, kDescription)->value, "Chest PA");
  EXPECT_FALSE(Parse(QidoTarget::kStudies, "PatientName=M%C3").ok());   // cut UTF-8
  EXPECT_FALSE(Parse(QidoTarget::kStudies, "PatientName=M%ZZ").ok());   // bad escape
  EXPECT_FALSE(Parse(QidoTarget::kStudies, "PatientName=M%4").ok());    // cut escape
  EXPECT_FALSE(Parse(QidoTarget::kStudies, "PatientName=%FF").ok());    // not UTF-8
}

TEST(ParseQidoRequest, DateRangesAndUidLists) {
  auto r = Parse(QidoTarget::kStudies,
                 "StudyDate=20200101-20201231&StudyInstanceUID=1.2.3,1.2.4%5C1.2.5");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const Condition* date = ConditionOn(*r, kStudyDate);
  ASSERT_NE(date, nullptr);
  EXPECT_EQ(date->kind, Condition::Kind::kRange);
  EXPECT_EQ(date->low, "20200101");
  EXPECT_EQ(date->high, "20201231");
  const Condition* uids = ConditionOn(*r, kStudyUid);
  ASSERT_NE(uids, nullptr);
  EXPECT_EQ(uids->kind, Condition::Kind::kList);
  EXPECT_EQ(uids->list, (std::vector<std::string>{"1.2.3", "1.2.4", "1.2.5"}));
  auto backslash = Parse(QidoTarget::kStudies, "StudyInstanceUID=1.2.3\\1.2.4");
  ASSERT_TRUE(backslash.ok());
  EXPECT_EQ(ConditionOn(*backslash, kStudyUid)->list.size(), 2u);
  EXPECT_FALSE(Parse(QidoTarget::kStudies, "StudyDate=2020-01-01").ok());
  EXPECT_FALSE(Parse(QidoTarget::kStudies, "StudyDate=20200101-20201231,20210101").ok());
}

TEST(ParseQidoRequest, RepeatedOrCommaValuesAreAlternatives) {
  auto repeated = Parse(QidoTarget::kStudies, "PatientID=A&PatientID=B");
  auto comma = Parse(QidoTarget::kStudies, "PatientID=A,B,A");
  ASSERT_TRUE(repeated.ok() && comma.ok());
  for (const QidoRequest* r : {&*repeated, &*comma}) {
    const Condition* c = ConditionOn(*r, kPatientId);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->kind, Condition::Kind::kList);
    EXPECT_EQ(c->list, (std::vector<std::string>{"A", "B"}));
  }
  auto modalities = Parse(QidoTarget::kStudies, "ModalitiesInStudy=CT,MR");
  ASSERT_TRUE(modalities.ok());
  EXPECT_EQ(ConditionOn(*modalities, kModalities)->kind, Condition::Kind::kList);
  auto single = Parse(QidoTarget::kStudies, "ModalitiesInStudy=CT");
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(ConditionOn(*single, kModalities)->kind, Condition::Kind::kSingle);
  // A universal alternative makes the key universal; wildcards do not combine.
  auto universal = Parse(QidoTarget::kStudies, "PatientID=A&PatientID=");
  ASSERT_TRUE(universal.ok());
  EXPECT_EQ(ConditionOn(*universal, kPatientId), nullptr);
  EXPECT_TRUE(Has(universal->attributes, kPatientId));
  auto wild = Parse(QidoTarget::kStudies, "PatientName=A*,B*");
  ASSERT_FALSE(wild.ok());
  EXPECT_NE(wild.status().message().find("PatientName"), std::string::npos);
}

TEST(ParseQidoRequest, CFindParsesTheSameValueIntoTheSameCondition) {
  const dicom::QueryAttribute* date = dicom::FindQueryAttribute(kStudyDate);
  auto cfind = dicom::ParseMatchingKey(*date, "20200101-");
  auto qido = Parse(QidoTarget::kStudies, "StudyDate=20200101-");
  ASSERT_TRUE(cfind.ok() && qido.ok());
  const Condition* q = ConditionOn(*qido, kStudyDate);
  EXPECT_EQ(q->kind, cfind->condition.kind);
  EXPECT_EQ(q->low, cfind->condition.low);
  EXPECT_EQ(q->high, cfind->condition.high);
}

TEST(ParseQidoRequest, UnknownOrUnsupportedAttributesNameTheAttribute) {
  auto unknown = Parse(QidoTarget::kStudies, "NoSuchKeyword=1");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), Code::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("NoSuchKeyword"), std::string::npos);
  auto not_held = Parse(QidoTarget::kStudies, "Rows=512");
  ASSERT_FALSE(not_held.ok());
  EXPECT_NE(not_held.status().message().find("Rows"), std::string::npos);
  auto below = Parse(QidoTarget::kStudies, "Modality=CT");
  ASSERT_FALSE(below.ok());
  EXPECT_NE(below.status().message().find("Modality"), std::string::npos);
  EXPECT_TRUE(Parse(QidoTarget::kSeries, "Modality=CT").ok());
  auto count = Parse(QidoTarget::kStudies, "NumberOfStudyRelatedSeries=2");
  ASSERT_FALSE(count.ok());
  EXPECT_NE(count.status().message().find("NumberOfStudyRelatedSeries"), std::string::npos);
  EXPECT_TRUE(Parse(QidoTarget::kStudies, "NumberOfStudyRelatedSeries=").ok());
  EXPECT_FALSE(Parse(QidoTarget::kStudies, "00081111.00081150=1.2").ok());
  EXPECT_FALSE(Parse(QidoTarget::kStudies, "=x").ok());
  // A name with markup is never echoed.
  auto markup = Parse(QidoTarget::kStudies, "%3Cscript%3E=1");
  ASSERT_FALSE(markup.ok());
  EXPECT_EQ(markup.status().message().find("<script>"), std::string::npos);
}

TEST(ParseQidoRequest, LimitOffsetAndFuzzy) {
  auto defaults = Parse(QidoTarget::kStudies, "");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->query.limit, DicomWebOptions{}.qido_default_limit);
  EXPECT_EQ(defaults->query.offset, 0u);
  EXPECT_FALSE(defaults->query.fuzzy_person_names);
  auto paged = Parse(QidoTarget::kStudies, "limit=10&offset=20&fuzzymatching=true");
  ASSERT_TRUE(paged.ok());
  EXPECT_EQ(paged->query.limit, 10u);
  EXPECT_EQ(paged->query.offset, 20u);
  EXPECT_TRUE(paged->query.fuzzy_person_names);
  auto capped = Parse(QidoTarget::kStudies, "limit=999999");
  ASSERT_TRUE(capped.ok());
  EXPECT_EQ(capped->query.limit, DicomWebOptions{}.qido_max_limit);
  EXPECT_EQ(capped->requested_limit, 999999u);
  for (const char* bad : {"limit=0", "limit=-1", "limit=ten", "offset=1.5", "limit=1&limit=2",
                          "fuzzymatching=yes", "offset=99999999999"}) {
    EXPECT_FALSE(Parse(QidoTarget::kStudies, bad).ok()) << bad;
  }
}

TEST(ParseQidoRequest, IncludeField) {
  auto r = Parse(QidoTarget::kStudies,
                 "includefield=00081030,00080060&includefield=Rows&includefield=InstitutionName");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(Has(r->attributes, kDescription));
  EXPECT_TRUE(Has(r->query.return_tags, kDescription));
  EXPECT_TRUE(Has(r->attributes, MakeTag(0x0008, 0x0080)));
  EXPECT_FALSE(Has(r->attributes, kModality));  // series level: not in a study search
  EXPECT_EQ(r->ignored, (std::vector<std::string>{"Modality", "Rows"}));
  EXPECT_TRUE(std::is_sorted(r->attributes.begin(), r->attributes.end()));
  auto all = Parse(QidoTarget::kSeries, "includefield=all");
  ASSERT_TRUE(all.ok());
  for (const dicom::QueryAttribute& a : dicom::QueryAttributes()) {
    EXPECT_EQ(Has(all->attributes, a.tag), a.level != QueryLevel::kImage) << a.keyword;
  }
  auto unknown = Parse(QidoTarget::kStudies, "includefield=Bogus");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("Bogus"), std::string::npos);
  auto nested = Parse(QidoTarget::kStudies, "includefield=00081111.00081150");
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ(nested->ignored.size(), 1u);
}

TEST(ParseQidoRequest, DefaultsPerTargetAndPathUids) {
  auto studies = Parse(QidoTarget::kStudies, "");
  ASSERT_TRUE(studies.ok());
  for (dicom::TagKey t : {kStudyDate, MakeTag(0x0008, 0x0030), MakeTag(0x0008, 0x0050), kModalities,
                          MakeTag(0x0008, 0x0090), kPatientName, kPatientId,
                          MakeTag(0x0010, 0x0030), MakeTag(0x0010, 0x0040), kStudyUid,
                          MakeTag(0x0020, 0x0010), MakeTag(0x0020, 0x1206),
                          MakeTag(0x0020, 0x1208)}) {
    EXPECT_TRUE(Has(studies->attributes, t)) << std::hex << t;
  }
  auto series = Parse(QidoTarget::kStudySeries, "", "1.2.3");
  ASSERT_TRUE(series.ok());
  EXPECT_EQ(series->query.level, QueryLevel::kSeries);
  EXPECT_EQ(ConditionOn(*series, kStudyUid)->value, "1.2.3");
  EXPECT_TRUE(Has(series->attributes, kStudyUid));
  EXPECT_TRUE(Has(series->attributes, kModality));
  EXPECT_FALSE(Has(series->attributes, kPatientName));  // the study is in the path
  auto all_series = Parse(QidoTarget::kSeries, "");
  ASSERT_TRUE(all_series.ok());
  EXPECT_TRUE(Has(all_series->attributes, kPatientName));
  auto instances = Parse(QidoTarget::kStudySeriesInstances, "", "1.2.3", "1.2.3.4");
  ASSERT_TRUE(instances.ok());
  EXPECT_EQ(instances->query.level, QueryLevel::kImage);
  EXPECT_EQ(ConditionOn(*instances, kSeriesUid)->value, "1.2.3.4");
  EXPECT_TRUE(Has(instances->attributes, MakeTag(0x0008, 0x0018)));
  EXPECT_TRUE(Has(instances->attributes, kSeriesUid));
  EXPECT_FALSE(Parse(QidoTarget::kStudySeries, "", "not a uid").ok());
  EXPECT_FALSE(Parse(QidoTarget::kStudySeriesInstances, "", "1.2.3", "1..2").ok());
}

TEST(QidoResponseBody, DicomJsonOfIndexValues) {
  auto r = Parse(QidoTarget::kStudies, "includefield=StudyDescription");
  ASSERT_TRUE(r.ok());
  dicom::QueryMatch m;
  m.values[kPatientName] = "M\xC3\xBCller^J\xC3\xB6rg=\xE5\xB1\xB1\xE7\x94\xB0=";
  m.values[kPatientId] = "PID\"1\\";
  m.values[kStudyUid] = "1.2.3";
  m.values[kModalities] = "CT\\MR";
  m.values[MakeTag(0x0020, 0x1206)] = "2";
  m.values[kDescription] = "bad \xFF byte";
  std::string body = QidoResponseBody(*r, {m});
  EXPECT_NE(body.find(R"("00100010":{"vr":"PN","Value":[{"Alphabetic":"Müller^Jörg","Ideographic":"山田"}]})"),
            std::string::npos) << body;
  EXPECT_NE(body.find(R"("00100020":{"vr":"LO","Value":["PID\"1",null]})"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("00080061":{"vr":"CS","Value":["CT","MR"]})"), std::string::npos);
  EXPECT_NE(body.find(R"("00201206":{"vr":"IS","Value":[2]})"), std::string::npos);
  EXPECT_NE(body.find(R"("00080020":{"vr":"DA"})"), std::string::npos);  // empty
  EXPECT_NE(body.find(R"("00080005":{"vr":"CS","Value":["ISO_IR 192"]})"), std::string::npos);
  EXPECT_NE(body.find("bad \xEF\xBF\xBD byte"), std::string::npos);
  EXPECT_EQ(body.front(), '[');
  EXPECT_EQ(body.back(), ']');
  EXPECT_EQ(QidoResponseBody(*r, {}), "[]");
}

TEST(AppendJsonAttribute, NumbersAndStrings) {
  auto one = [](std::string_view vr, std::string_view value) {
    std::string out;
    AppendJsonAttribute(out, MakeTag(0x0020, 0x0013), vr, value);
    return out;
  };
  EXPECT_EQ(one("IS", " 007 "), R"("00200013":{"vr":"IS","Value":[7]})");
  EXPECT_EQ(one("IS", "+3\\-4"), R"("00200013":{"vr":"IS","Value":[3,-4]})");
  EXPECT_EQ(one("IS", "12a"), R"("00200013":{"vr":"IS","Value":["12a"]})");
  EXPECT_EQ(one("DS", "1.5e3"), R"("00200013":{"vr":"DS","Value":[1500]})");
  EXPECT_EQ(one("PN", "=="), R"("00200013":{"vr":"PN","Value":[null]})");
  EXPECT_EQ(one("LO", "a\tb\x01"), R"("00200013":{"vr":"LO","Value":["a\tb\u0001"]})");
  EXPECT_EQ(one("UI", ""), R"("00200013":{"vr":"UI"})");
}

}  // namespace
}  // namespace tresor::dicomweb
