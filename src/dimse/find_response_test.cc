#include "dimse/find_response.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcelem.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <gtest/gtest.h>

#include <string>

namespace tresor::dimse {
namespace {

constexpr dicom::TagKey kPatientName = dicom::MakeTag(0x0010, 0x0010);
constexpr dicom::TagKey kStudyUid = dicom::MakeTag(0x0020, 0x000D);
constexpr dicom::TagKey kStudyDate = dicom::MakeTag(0x0008, 0x0020);
constexpr dicom::TagKey kReferencedStudies = dicom::MakeTag(0x0008, 0x1110);

// Parses `bytes` as DCMTK would on the receiving side.
bool Parse(const std::string& bytes, E_TransferSyntax xfer, DcmDataset* out) {
  DcmInputBufferStream stream;
  stream.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  stream.setEos();
  out->transferInit();
  OFCondition cond = out->read(stream, xfer);
  out->transferEnd();
  return cond.good();
}

std::string Value(DcmDataset& d, const DcmTagKey& key) {
  OFString v;
  return d.findAndGetOFStringArray(key, v).good() ? std::string(v.c_str()) : "<missing>";
}

dicom::QueryMatch Match() {
  dicom::QueryMatch m;
  m.values[kPatientName] = "M\xC3\xBCller^Anna";  // odd length in UTF-8: padded
  m.values[kStudyUid] = "1.2.345";                // odd: padded with NUL
  m.values[kStudyDate] = "20200301";
  return m;
}

TEST(FindResponseEncoder, IdentifiersReadBackAsDcmtkWouldHaveWrittenThem) {
  for (const char* ts : {UID_LittleEndianImplicitTransferSyntax, UID_LittleEndianExplicitTransferSyntax}) {
    // Requested out of tag order, with a sequence and a key the match has no value for.
    auto enc = FindResponseEncoder::Make(
        {kStudyUid, kPatientName, kReferencedStudies, dicom::MakeTag(0x0008, 0x0050), kStudyDate},
        "STUDY", ts);
    ASSERT_TRUE(enc.ok()) << enc.status().ToString();
    std::string bytes;
    ASSERT_TRUE(enc->Encode(Match(), &bytes).ok());
    EXPECT_EQ(bytes.size() % 2, 0u);
    DcmDataset d;
    ASSERT_TRUE(Parse(bytes, DcmXfer(ts).getXfer(), &d)) << ts;
    EXPECT_EQ(d.card(), 7u) << "five keys, character set and level";
    EXPECT_EQ(Value(d, DCM_SpecificCharacterSet), "ISO_IR 192");
    EXPECT_EQ(Value(d, DCM_QueryRetrieveLevel), "STUDY");
    EXPECT_EQ(Value(d, DCM_PatientName), "M\xC3\xBCller^Anna");
    EXPECT_EQ(Value(d, DCM_StudyInstanceUID), "1.2.345");
    EXPECT_EQ(Value(d, DCM_StudyDate), "20200301");
    EXPECT_EQ(Value(d, DCM_AccessionNumber), "");
    DcmElement* sq = nullptr;
    ASSERT_TRUE(d.findAndGetElement(DCM_ReferencedStudySequence, sq).good());
    EXPECT_EQ(sq->ident(), EVR_SQ);
    // Ascending tag order, as PS3.5 7.1 requires.
    for (unsigned long i = 1; i < d.card(); ++i) {
      EXPECT_LT(d.getElement(i - 1)->getTag(), d.getElement(i)->getTag());
    }
  }
}

TEST(FindResponseEncoder, KeysAndSyntaxesItCannotWriteAreLeftToDcmtk) {
  auto binary = FindResponseEncoder::Make({dicom::MakeTag(0x0028, 0x0010)}, "IMAGE",
                                          UID_LittleEndianExplicitTransferSyntax);
  EXPECT_EQ(binary.status().code(), Code::kUnsupported) << "Rows is US";
  auto big_endian = FindResponseEncoder::Make({kPatientName}, "STUDY", UID_BigEndianExplicitTransferSyntax);
  EXPECT_EQ(big_endian.status().code(), Code::kUnsupported);
  auto ok = FindResponseEncoder::Make({kPatientName}, "STUDY", UID_LittleEndianExplicitTransferSyntax);
  ASSERT_TRUE(ok.ok()) << "positive control";
}

TEST(FindResponseEncoder, AValueTooLongForItsExplicitLengthFailsWithoutWriting) {
  auto enc = FindResponseEncoder::Make({kPatientName}, "STUDY", UID_LittleEndianExplicitTransferSyntax);
  ASSERT_TRUE(enc.ok());
  dicom::QueryMatch m;
  m.values[kPatientName] = std::string(70000, 'A');
  std::string out = "kept";
  EXPECT_EQ(enc->Encode(m, &out).code(), Code::kUnsupported);
  EXPECT_EQ(out, "kept");
  m.values[kPatientName] = "Short";
  EXPECT_TRUE(enc->Encode(m, &out).ok()) << "positive control";
  EXPECT_GT(out.size(), 4u);
}

TEST(FindPendingCommand, IsAC_FIND_RSPWithTheGroupLengthOfItsElements) {
  std::string cmd = FindPendingCommand(UID_FINDStudyRootQueryRetrieveInformationModel, 7, 0xFF00);
  DcmDataset d;
  ASSERT_TRUE(Parse(cmd, EXS_LittleEndianImplicit, &d));
  Uint16 v = 0;
  ASSERT_TRUE(d.findAndGetUint16(DCM_CommandField, v).good());
  EXPECT_EQ(v, 0x8020);
  ASSERT_TRUE(d.findAndGetUint16(DCM_MessageIDBeingRespondedTo, v).good());
  EXPECT_EQ(v, 7);
  ASSERT_TRUE(d.findAndGetUint16(DCM_Status, v).good());
  EXPECT_EQ(v, 0xFF00);
  ASSERT_TRUE(d.findAndGetUint16(DCM_CommandDataSetType, v).good());
  EXPECT_NE(v, 0x0101) << "a data set follows";
  EXPECT_EQ(Value(d, DCM_AffectedSOPClassUID), UID_FINDStudyRootQueryRetrieveInformationModel);
  Uint32 group_length = 0;
  ASSERT_TRUE(d.findAndGetUint32(DCM_CommandGroupLength, group_length).good());
  EXPECT_EQ(group_length, cmd.size() - 12) << "everything after the group length element";
}

TEST(RetrievePendingCommand, IsAPendingResponseWithTheFourCounts) {
  SubOperationCounts counts;
  counts.remaining = 197;
  counts.completed = 2;
  counts.failed = 1;
  counts.warning = 0;
  // An odd-length SOP class UID is padded with NUL, as UIDs are.
  const std::string sop_class = UID_MOVEStudyRootQueryRetrieveInformationModel;
  std::string cmd = RetrievePendingCommand(0x8021, sop_class, 7, counts);
  EXPECT_EQ(cmd.size() % 2, 0u);
  DcmDataset d;
  ASSERT_TRUE(Parse(cmd, EXS_LittleEndianImplicit, &d));
  EXPECT_EQ(d.card(), 10u) << "group length and nine elements";
  auto u16 = [&](const DcmTagKey& tag) {
    Uint16 v = 0xDEAD;
    EXPECT_TRUE(d.findAndGetUint16(tag, v).good()) << tag.toString();
    return v;
  };
  EXPECT_EQ(u16(DCM_CommandField), 0x8021);
  EXPECT_EQ(u16(DCM_MessageIDBeingRespondedTo), 7);
  EXPECT_EQ(u16(DCM_CommandDataSetType), 0x0101) << "no data set follows";
  EXPECT_EQ(u16(DCM_Status), 0xFF00);
  EXPECT_EQ(u16(DCM_NumberOfRemainingSuboperations), 197);
  EXPECT_EQ(u16(DCM_NumberOfCompletedSuboperations), 2);
  EXPECT_EQ(u16(DCM_NumberOfFailedSuboperations), 1);
  EXPECT_EQ(u16(DCM_NumberOfWarningSuboperations), 0);
  EXPECT_EQ(Value(d, DCM_AffectedSOPClassUID), sop_class);
  Uint32 group_length = 0;
  ASSERT_TRUE(d.findAndGetUint32(DCM_CommandGroupLength, group_length).good());
  EXPECT_EQ(group_length, cmd.size() - 12) << "everything after the group length element";
}

TEST(StoreResponseCommand, IsAC_STORE_RSPWithoutDataSetNamingTheInstance) {
  // An odd-length instance UID is padded with NUL, as UIDs are.
  std::string cmd = StoreResponseCommand(UID_CTImageStorage, "1.2.840.99.7", 300, 0xA700);
  EXPECT_EQ(cmd.size() % 2, 0u);
  DcmDataset d;
  ASSERT_TRUE(Parse(cmd, EXS_LittleEndianImplicit, &d));
  EXPECT_EQ(d.card(), 7u) << "group length and six elements";
  Uint16 v = 0;
  ASSERT_TRUE(d.findAndGetUint16(DCM_CommandField, v).good());
  EXPECT_EQ(v, 0x8001);
  ASSERT_TRUE(d.findAndGetUint16(DCM_MessageIDBeingRespondedTo, v).good());
  EXPECT_EQ(v, 300);
  ASSERT_TRUE(d.findAndGetUint16(DCM_Status, v).good());
  EXPECT_EQ(v, 0xA700);
  ASSERT_TRUE(d.findAndGetUint16(DCM_CommandDataSetType, v).good());
  EXPECT_EQ(v, 0x0101) << "no data set follows";
  EXPECT_EQ(Value(d, DCM_AffectedSOPClassUID), UID_CTImageStorage);
  EXPECT_EQ(Value(d, DCM_AffectedSOPInstanceUID), "1.2.840.99.7");
  Uint32 group_length = 0;
  ASSERT_TRUE(d.findAndGetUint32(DCM_CommandGroupLength, group_length).good());
  EXPECT_EQ(group_length, cmd.size() - 12) << "everything after the group length element";
}

}  // namespace
}  // namespace tresor::dimse
