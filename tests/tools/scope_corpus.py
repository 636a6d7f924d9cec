#!/usr/bin/python3
"""Writes a small corpus for the access-scope suites (S15, S30): one single-instance CT
study per line of the plan below, as Part 10 files OUT/<study-key>.dcm, and prints one
line per study: KEY STUDY_UID SOP_UID PATIENT_ID INSTITUTION ISSUER.

Patients: ALPHA (studies a1, a2 from site A, b1 from Klinik B) and BETA (a3 from site A,
b2 from Klinik B, e1 issued by EXT-ISSUER, c1 that matches no rule). x1 is one more
instance, from Klinik A, in b1's study (a new series): a late arrival into an existing
study.
"""
import sys

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

ROOT = "1.2.826.0.1.3680043.8.498.7715"
CT = "1.2.840.10008.5.1.4.1.1.2"
PLAN = [  # key, patient id, patient name, institution, issuer
    ("a1", "ALPHA", "Alpha^Anna", "Klinik A", ""),
    ("a2", "ALPHA", "Alpha^Anna", "Klinik A", ""),
    ("b1", "ALPHA", "Alpha^Anna", "Klinik B", ""),
    ("a3", "BETA", "Beta^Bernd", "Klinik A", ""),
    ("b2", "BETA", "Beta^Bernd", "Klinik B", ""),
    ("e1", "BETA", "Beta^Bernd", "Klinik C", "EXT-ISSUER"),
    ("c1", "BETA", "Beta^Bernd", "Klinik C", ""),
    ("x1", "ALPHA", "Alpha^Anna", "Klinik A", "", "b1"),
]


def main(out):
    studies = {}
    for n, (key, pid, name, institution, issuer, *join) in enumerate(PLAN, 1):
        study = studies[join[0]] if join else f"{ROOT}.{n}"
        studies[key] = study
        series = f"{study}.{n}"
        sop = f"{series}.1"
        ds = Dataset()
        ds.SOPClassUID = CT
        ds.SOPInstanceUID = sop
        ds.StudyDate = "20240101"
        ds.Modality = "CT"
        ds.InstitutionName = institution
        ds.PatientName = name
        ds.PatientID = pid
        if issuer:
            ds.IssuerOfPatientID = issuer
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series
        ds.StudyID = key
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = CT
        ds.file_meta.MediaStorageSOPInstanceUID = sop
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.is_little_endian = True
        ds.is_implicit_VR = False
        ds.save_as(f"{out}/{key}.dcm", write_like_original=False)
        print(key, study, sop, pid, institution.replace(" ", "_"), issuer or "-")


if __name__ == "__main__":
    main(sys.argv[1])
