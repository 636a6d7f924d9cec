// Formatting of DICOM JSON values (PS3.18 F.2) and other figures for display. Every
// function returns plain strings; the callers put them into text nodes.

// Tags the console reads, by keyword.
export const TAG = {
  PatientName: '00100010', PatientID: '00100020', PatientBirthDate: '00100030',
  PatientSex: '00100040', StudyDate: '00080020', StudyTime: '00080030',
  AccessionNumber: '00080050', ModalitiesInStudy: '00080061', Modality: '00080060',
  StudyDescription: '00081030', SeriesDescription: '0008103E', StudyInstanceUID: '0020000D',
  SeriesInstanceUID: '0020000E', StudyID: '00200010', SeriesNumber: '00200011',
  ReferringPhysicianName: '00080090', InstitutionName: '00080080',
  NumberOfStudyRelatedSeries: '00201206', NumberOfStudyRelatedInstances: '00201208',
  NumberOfSeriesRelatedInstances: '00201209', SeriesDate: '00080021', BodyPartExamined: '00180015',
};

// The Value array of an attribute (by keyword), or [].
export function values(obj, keyword) {
  const a = obj && obj[TAG[keyword]];
  return a && Array.isArray(a.Value) ? a.Value : [];
}

// The first value as a string ('' if absent). PN values give their Alphabetic group.
export function first(obj, keyword) {
  const v = values(obj, keyword)[0];
  if (v === undefined || v === null) return '';
  if (typeof v === 'object') return v.Alphabetic || v.Ideographic || v.Phonetic || '';
  return String(v);
}

// Every value joined with ', ' (e.g. ModalitiesInStudy).
export function all(obj, keyword) {
  return values(obj, keyword).map((v) => (typeof v === 'object' ? v.Alphabetic || '' : String(v))).join(', ');
}

// A person name: {main, other} where main is the Alphabetic group shown with '^' turned
// into ', ' between family and given names, and other the ideographic/phonetic groups.
export function personName(obj, keyword) {
  const v = values(obj, keyword)[0];
  if (!v || typeof v !== 'object') return { main: v ? String(v) : '', other: '' };
  const show = (s) => (s ? s.split('^').filter((x) => x !== '').join(', ') : '');
  const main = show(v.Alphabetic) || show(v.Ideographic) || show(v.Phonetic);
  const other = [v.Ideographic, v.Phonetic].filter((x) => x && show(x) !== main).map(show).join(' = ');
  return { main, other };
}

// DICOM DA "YYYYMMDD" -> "YYYY-MM-DD" (other forms unchanged).
export function date(da) {
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(da || '');
  return m ? m[1] + '-' + m[2] + '-' + m[3] : da || '';
}

// DICOM TM "HHMMSS.frac" -> "HH:MM:SS" / "HH:MM".
export function time(tm) {
  const m = /^(\d{2})(\d{2})?(\d{2})?/.exec(tm || '');
  if (!m) return tm || '';
  return [m[1], m[2] || '00', m[3]].filter(Boolean).join(':');
}

// "YYYY-MM-DD" (an <input type=date> value) -> "YYYYMMDD".
export function toDicomDate(iso) { return (iso || '').replace(/-/g, ''); }

// A byte count in binary units: "1.5 GiB".
export function bytes(n) {
  if (typeof n !== 'number' || !isFinite(n)) return '';
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? String(v) : v.toFixed(v < 10 ? 2 : 1)) + ' ' + units[i];
}

// A whole number with thousands separators.
export function count(n) { return typeof n === 'number' ? n.toLocaleString('en-US') : ''; }

// An ISO 8601 time -> "YYYY-MM-DD HH:MM:SS UTC".
export function isoTime(s) {
  const d = new Date(s);
  if (isNaN(d.getTime())) return s || '';
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/Z$/, ' UTC');
}
