//! The seeded corpus: laws in English and Vietnamese (Part / Chapter / Article / Clause
//! structure, Vietnamese with its diacritics, NFC) and Markdown knowledge-base articles, all
//! generated deterministically from one seed by a small splitmix64 generator (no `rand`).
//!
//! The text is built from phrase lists rather than random letters, so that line lengths, word
//! lengths, the share of multi-byte characters and the density of markers are those of real
//! documents: legal clauses are one unwrapped line of one to three sentences (80 to 500 bytes),
//! Markdown paragraphs are wrapped at 68 to 96 columns, with lists, tables, block quotes and
//! fenced code (whose `#` comment lines are not headings).

use std::fmt::Write as _;

use iu_cutter_cut::roman_numeral;
use iu_cutter_live_execution::Preset;

/// splitmix64: tiny, fast, and good enough to vary text.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// A number in `lo..=hi`.
    pub(crate) fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    /// True with probability `percent`/100.
    pub(crate) fn percent(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub(crate) fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items
            .get(self.below(items.len()))
            .copied()
            .unwrap_or_default()
    }

    /// A size between `lo` and `hi`, uniform in its logarithm (many small, a few large).
    pub(crate) fn log_uniform(&mut self, lo: usize, hi: usize) -> usize {
        if hi <= lo {
            return lo;
        }
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let (lo_f, hi_f) = (lo as f64, hi as f64);
        ((lo_f.ln() + u * (hi_f.ln() - lo_f.ln())).exp() as usize).clamp(lo, hi)
    }

    /// An independent generator derived from this one and `stream`.
    pub(crate) fn fork(&self, stream: u64) -> Rng {
        let mut rng = Rng(self.0 ^ stream.wrapping_mul(0xd1b5_4a32_d192_ed03));
        rng.next_u64();
        rng
    }
}

/// What a document is, hence which preset cuts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// An English statute.
    LegalEn,
    /// A Vietnamese law.
    LegalVi,
    /// A Markdown knowledge-base article.
    Markdown,
}

impl Kind {
    pub(crate) const ALL: [Kind; 3] = [Kind::LegalEn, Kind::LegalVi, Kind::Markdown];

    pub(crate) fn preset(self) -> Preset {
        match self {
            Kind::LegalEn => Preset::LegalEn,
            Kind::LegalVi => Preset::LegalVi,
            Kind::Markdown => Preset::Markdown,
        }
    }

    pub(crate) fn extension(self) -> &'static str {
        match self {
            Kind::LegalEn | Kind::LegalVi => "txt",
            Kind::Markdown => "md",
        }
    }
}

/// One generated document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Doc {
    pub(crate) id: String,
    pub(crate) kind: Kind,
    pub(crate) text: String,
}

/// The documents' total size in bytes.
pub(crate) fn total_bytes(docs: &[Doc]) -> u64 {
    docs.iter().map(|d| d.text.len() as u64).sum()
}

/// How many documents of each kind, and how large (bytes, log-uniform between the bounds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CorpusSpec {
    pub(crate) seed: u64,
    /// Laws of each language: every corpus holds as many English laws as Vietnamese ones.
    pub(crate) laws: usize,
    pub(crate) articles: usize,
    pub(crate) law_bytes: (usize, usize),
    pub(crate) article_bytes: (usize, usize),
}

impl CorpusSpec {
    /// The quick run's corpus: a few documents of each kind, small enough for the tests too, so
    /// that what they check of the corpus holds of what the quick run measures.
    pub(crate) fn quick(seed: u64) -> Self {
        CorpusSpec {
            seed,
            laws: 4,
            articles: 10,
            law_bytes: (10_000, 60_000),
            article_bytes: (3_000, 20_000),
        }
    }
}

/// The mixed corpus: English laws, then Vietnamese laws, then Markdown articles.
pub(crate) fn corpus(spec: &CorpusSpec) -> Vec<Doc> {
    let root = Rng::new(spec.seed);
    let mut docs = Vec::with_capacity(2 * spec.laws + spec.articles);
    let kinds = [
        (Kind::LegalEn, spec.laws, spec.law_bytes, "law-en"),
        (Kind::LegalVi, spec.laws, spec.law_bytes, "law-vi"),
        (Kind::Markdown, spec.articles, spec.article_bytes, "kb"),
    ];
    for (stream, (kind, count, (lo, hi), prefix)) in kinds.into_iter().enumerate() {
        let mut rng = root.fork(stream as u64 + 1);
        for i in 0..count {
            let size = rng.log_uniform(lo, hi);
            let mut doc_rng = rng.fork(i as u64);
            docs.push(Doc {
                id: format!("{prefix}-{:04}", i + 1),
                kind,
                text: generate(kind, &mut doc_rng, size),
            });
        }
    }
    docs
}

/// `count` Vietnamese laws of about `bytes` each.
pub(crate) fn vi_laws(seed: u64, count: usize, bytes: usize, prefix: &str) -> Vec<Doc> {
    let root = Rng::new(seed);
    (0..count)
        .map(|i| Doc {
            id: format!("{prefix}-{:04}", i + 1),
            kind: Kind::LegalVi,
            text: legal_vi(&mut root.fork(i as u64), bytes),
        })
        .collect()
}

/// One document of `kind`, of at least `target` bytes (it ends where the generator next can).
pub(crate) fn generate(kind: Kind, rng: &mut Rng, target: usize) -> String {
    match kind {
        Kind::LegalEn => legal_en(rng, target),
        Kind::LegalVi => legal_vi(rng, target),
        Kind::Markdown => markdown(rng, target),
    }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers.

/// How a law's chapters divide: how often a chapter has sections and how many, how a section
/// is headed, and how many articles a section (or a chapter without sections) holds.
struct Sectioning {
    /// The chance, in percent, that a chapter has sections.
    percent: usize,
    /// How many sections such a chapter has, at least and at most.
    sections: (usize, usize),
    /// A section's heading, `{word} {number}{after_number} {title}`: `Section 2 - Title`.
    word: &'static str,
    after_number: &'static str,
    titles: &'static [&'static str],
    /// The most articles a section holds (at least three).
    most_articles: usize,
}

impl Sectioning {
    /// Writes one chapter's articles, in sections when it draws some, until `out` reaches
    /// `target`; `article` numbers them across the law, `write_article` writes the one numbered.
    fn chapter(
        &self,
        out: &mut String,
        rng: &mut Rng,
        target: usize,
        article: &mut usize,
        mut write_article: impl FnMut(&mut String, &mut Rng, usize),
    ) {
        let sections = if rng.percent(self.percent) {
            rng.between(self.sections.0, self.sections.1)
        } else {
            0
        };
        for section in 0..sections.max(1) {
            if sections > 0 {
                let _ = write!(
                    out,
                    "{} {}{} {}\n\n",
                    self.word,
                    section + 1,
                    self.after_number,
                    rng.pick(self.titles)
                );
            }
            for _ in 0..rng.between(3, self.most_articles) {
                *article += 1;
                write_article(out, rng, *article);
                if out.len() >= target {
                    break;
                }
            }
            if out.len() >= target {
                break;
            }
        }
    }
}

/// Upper-cases the first character.
fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Appends `text` wrapped at `width` columns (by characters), ending with a newline.
fn push_wrapped(out: &mut String, text: &str, width: usize) {
    let mut column = 0;
    for word in text.split(' ') {
        let len = word.chars().count();
        if column > 0 && column + 1 + len > width {
            out.push('\n');
            column = 0;
        } else if column > 0 {
            out.push(' ');
            column += 1;
        }
        out.push_str(word);
        column += len;
    }
    out.push('\n');
}

/// Phrase lists of one language: a sentence is subject, modal, verb, object and up to two
/// qualifying tails.
struct Phrases {
    subjects: &'static [&'static str],
    modals: &'static [&'static str],
    verbs: &'static [&'static str],
    objects: &'static [&'static str],
    tails: &'static [&'static str],
    openers: &'static [&'static str],
}

impl Phrases {
    /// A sentence without its final punctuation.
    fn clause(&self, rng: &mut Rng) -> String {
        let mut s = String::with_capacity(200);
        if rng.percent(20) {
            s.push_str(rng.pick(self.openers));
            s.push_str(", ");
            s.push_str(&rng.pick(self.subjects).to_lowercase());
        } else {
            s.push_str(rng.pick(self.subjects));
        }
        for part in [
            rng.pick(self.modals),
            rng.pick(self.verbs),
            rng.pick(self.objects),
        ] {
            if !part.is_empty() {
                s.push(' ');
                s.push_str(part);
            }
        }
        for _ in 0..rng.below(3) {
            s.push_str(if rng.percent(40) { ", " } else { " " });
            s.push_str(rng.pick(self.tails));
        }
        s
    }

    fn sentence(&self, rng: &mut Rng) -> String {
        let mut s = self.clause(rng);
        s.push('.');
        s
    }

    /// One to `max` sentences on one line.
    fn sentences(&self, rng: &mut Rng, max: usize) -> String {
        let n = rng.between(1, max);
        let mut s = String::with_capacity(n * 160);
        for i in 0..n {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(&self.sentence(rng));
        }
        s
    }

    /// A list fragment: an object with a tail, lower case.
    fn fragment(&self, rng: &mut Rng) -> String {
        let mut s = String::with_capacity(120);
        s.push_str(rng.pick(self.verbs));
        s.push(' ');
        s.push_str(rng.pick(self.objects));
        if rng.percent(60) {
            s.push(' ');
            s.push_str(rng.pick(self.tails));
        }
        s
    }
}

// ---------------------------------------------------------------------------------------------
// English statutes.

const EN: Phrases = Phrases {
    subjects: &[
        "The competent authority",
        "Member States",
        "The operator",
        "Any person",
        "The Minister",
        "The Commission",
        "A licensee",
        "The applicant",
        "The supervisory board",
        "Each controller",
        "The registrar",
        "A public body",
        "The court",
        "An employer",
        "The tribunal",
        "The Secretary of State",
        "A local planning authority",
        "The holder of a permit",
    ],
    modals: &[
        "shall",
        "shall",
        "shall",
        "shall",
        "may",
        "must",
        "shall not",
        "may not",
    ],
    verbs: &[
        "ensure",
        "notify",
        "publish",
        "maintain",
        "submit",
        "approve",
        "review",
        "establish",
        "designate",
        "inform the Minister of",
        "keep",
        "verify",
        "record",
        "assess",
        "adopt",
        "revoke",
        "suspend",
        "grant",
        "require",
        "provide",
        "make available to the public",
    ],
    objects: &[
        "the register referred to in Article 12",
        "a written notice to the applicant",
        "the annual report on compliance",
        "records of all abstractions and discharges",
        "the information necessary for the assessment",
        "an independent review of the decision",
        "the conditions attached to the licence",
        "a summary of the measures taken",
        "the personal data held by the authority",
        "adequate safeguards for the rights of the persons concerned",
        "the fees payable under this Act",
        "a management plan for each river basin district",
        "the list of approved inspection bodies",
        "any change in the ownership of the undertaking",
    ],
    tails: &[
        "in accordance with this Regulation",
        "without undue delay",
        "within thirty days of receipt of the application",
        "in the form prescribed by the Minister",
        "subject to paragraph 2",
        "unless otherwise provided by law",
        "at least once every calendar year",
        "where the conditions laid down in Article 7 are met",
        "for a period of not less than five years",
        "on the request of the competent authority",
        "as soon as reasonably practicable",
        "before the end of the financial year",
        "in respect of each licensed activity",
        "by notice published in the Official Gazette",
        "having regard to the guidance issued under section 4",
    ],
    openers: &[
        "Where an application is incomplete",
        "Without prejudice to Article 3",
        "For the purposes of this Chapter",
        "Subject to the provisions of this Act",
        "Notwithstanding paragraph 1",
        "In the case of an emergency",
    ],
};

const EN_ACTS: &[&str] = &[
    "Water Resources",
    "Data Protection",
    "Public Procurement",
    "Consumer Rights",
    "Energy Efficiency",
    "Financial Services",
    "Road Traffic",
    "Employment Relations",
    "Environmental Protection",
    "Land Registration",
];

const EN_PARTS: &[&str] = &[
    "PRELIMINARY",
    "ADMINISTRATION",
    "LICENSING AND PERMITS",
    "ENFORCEMENT",
    "MISCELLANEOUS AND FINAL PROVISIONS",
];

const EN_CHAPTERS: &[&str] = &[
    "General provisions",
    "Licensing",
    "Supervision and enforcement",
    "Rights and obligations",
    "Water resources management",
    "Sanctions",
    "Administrative cooperation",
    "Final provisions",
];

const EN_ARTICLES: &[&str] = &[
    "Scope",
    "Application for a licence",
    "Powers of the competent authority",
    "Penalties",
    "Transitional provisions",
    "Records",
    "Appeals",
    "Fees",
    "Duty to cooperate",
    "Confidentiality",
    "Review of decisions",
    "Reporting obligations",
    "Exemptions",
    "Conditions of a permit",
    "Register of licences",
];

/// An act's chapters: three in ten have two or three sections, of three to nine articles.
const EN_SECTIONING: Sectioning = Sectioning {
    percent: 30,
    sections: (2, 3),
    word: "Section",
    after_number: " -",
    titles: EN_ARTICLES,
    most_articles: 9,
};

const EN_TERMS: &[&str] = &[
    "authority",
    "licence",
    "operator",
    "abstraction",
    "controller",
    "personal data",
    "river basin district",
    "undertaking",
];

fn legal_en(rng: &mut Rng, target: usize) -> String {
    let mut out = String::with_capacity(target + 8 * 1024);
    let act = rng.pick(EN_ACTS);
    let year = rng.between(1998, 2024);
    let _ = write!(
        out,
        "{} ACT {year}\nAct No. {} of {year}\n\nAn Act to make provision about {}; to confer powers on the {}; and for connected purposes.\n\n[Date of assent: {} March {year}]\n\nBE IT ENACTED by the Parliament as follows:\n\n",
        act.to_uppercase(),
        rng.between(1, 60),
        act.to_lowercase(),
        rng.pick(EN.subjects).to_lowercase(),
        rng.between(1, 28),
    );
    let with_parts = target > 150 * 1024 && rng.percent(60);
    let mut article = 0usize;
    let mut chapter = 0usize;
    let mut part = 0u16;
    while out.len() < target {
        if with_parts && chapter.is_multiple_of(3) {
            part += 1;
            let _ = write!(
                out,
                "PART {} — {}\n\n",
                roman_numeral(part),
                EN_PARTS
                    .get(usize::from(part) - 1)
                    .copied()
                    .unwrap_or("SUPPLEMENTARY")
            );
        }
        chapter += 1;
        let _ = write!(out, "Chapter {chapter}. {}\n\n", rng.pick(EN_CHAPTERS));
        EN_SECTIONING.chapter(&mut out, rng, target, &mut article, en_article);
    }
    article += 1;
    let _ = write!(
        out,
        "Article {article}. Commencement\nThis Act comes into force on such day as the Minister may by order appoint.\n"
    );
    out
}

fn en_article(out: &mut String, rng: &mut Rng, number: usize) {
    if number == 1 {
        let _ = write!(out, "Article 1. Interpretation\nIn this Act—\n");
        for _ in 0..rng.between(3, 8) {
            let _ = writeln!(
                out,
                "\"{}\" means {};",
                rng.pick(EN_TERMS),
                rng.pick(EN.objects)
            );
        }
        out.push('\n');
        return;
    }
    let _ = writeln!(out, "Article {number}. {}", rng.pick(EN_ARTICLES));
    if rng.percent(25) {
        // A short article: one paragraph, no numbered clauses.
        let _ = writeln!(out, "{}", EN.sentences(rng, 3));
        out.push('\n');
        return;
    }
    for clause in 1..=rng.between(1, 6) {
        let _ = writeln!(out, "{clause}. {}", EN.sentences(rng, 3));
        if rng.percent(25) {
            let points = rng.between(2, 5);
            for (i, letter) in ["a", "b", "c", "d", "e"].iter().take(points).enumerate() {
                let end = if i + 1 == points {
                    "."
                } else if i + 2 == points {
                    "; and"
                } else {
                    ";"
                };
                let _ = writeln!(out, "({letter}) {}{end}", EN.fragment(rng));
            }
        } else if rng.percent(15) {
            for sub in 1..=rng.between(1, 3) {
                let _ = writeln!(out, "{clause}.{sub} {}", EN.sentence(rng));
            }
        }
    }
    out.push('\n');
}

// ---------------------------------------------------------------------------------------------
// Vietnamese laws.

const VI: Phrases = Phrases {
    subjects: &[
        "Cơ quan nhà nước có thẩm quyền",
        "Tổ chức, cá nhân",
        "Ủy ban nhân dân cấp tỉnh",
        "Bộ trưởng Bộ Tài nguyên và Môi trường",
        "Người sử dụng lao động",
        "Doanh nghiệp",
        "Cơ quan quản lý thuế",
        "Chủ đầu tư",
        "Người nộp thuế",
        "Hội đồng nhân dân các cấp",
        "Thanh tra chuyên ngành",
        "Cơ sở giáo dục",
        "Ngân hàng Nhà nước Việt Nam",
        "Bộ Công an",
        "Người đứng đầu cơ quan, tổ chức",
        "Ủy ban nhân dân cấp xã",
    ],
    modals: &[
        "có trách nhiệm",
        "phải",
        "được",
        "không được",
        "có quyền",
        "có nghĩa vụ",
        "chịu trách nhiệm",
    ],
    verbs: &[
        "thực hiện",
        "kiểm tra",
        "giám sát",
        "báo cáo",
        "công bố",
        "lập",
        "phê duyệt",
        "tổ chức thực hiện",
        "hướng dẫn",
        "cung cấp",
        "lưu giữ",
        "xử lý",
        "bảo đảm",
        "thẩm định",
        "cấp",
        "thu hồi",
        "điều chỉnh",
        "quy định chi tiết",
    ],
    objects: &[
        "việc quản lý, sử dụng tài nguyên nước",
        "hồ sơ đề nghị cấp giấy phép",
        "kế hoạch sử dụng đất hằng năm",
        "thông tin về hoạt động kinh doanh",
        "quy hoạch phát triển kinh tế - xã hội",
        "báo cáo tài chính của doanh nghiệp",
        "quyền và lợi ích hợp pháp của người lao động",
        "dữ liệu về dân cư",
        "các biện pháp bảo vệ môi trường",
        "chế độ, chính sách đối với cán bộ, công chức",
        "giấy chứng nhận quyền sử dụng đất",
        "nghĩa vụ tài chính đối với Nhà nước",
        "danh mục nguồn nước liên tỉnh",
        "kết quả thanh tra, kiểm tra",
    ],
    tails: &[
        "theo quy định của pháp luật",
        "trong thời hạn 30 ngày kể từ ngày nhận đủ hồ sơ hợp lệ",
        "quy định tại khoản 2 Điều này",
        "trên địa bàn quản lý",
        "bảo đảm công khai, minh bạch",
        "theo hướng dẫn của Bộ Tài chính",
        "trừ trường hợp luật có quy định khác",
        "đối với các trường hợp quy định tại Điều 12 của Luật này",
        "định kỳ hằng năm hoặc đột xuất",
        "phù hợp với chiến lược phát triển bền vững",
        "theo đề nghị của cơ quan có thẩm quyền",
        "bằng văn bản và nêu rõ lý do",
    ],
    openers: &[
        "Trong trường hợp cần thiết",
        "Trừ trường hợp quy định tại khoản 3 Điều này",
        "Căn cứ vào kết quả kiểm tra",
        "Trong phạm vi nhiệm vụ, quyền hạn của mình",
        "Đối với dự án đầu tư công",
    ],
};

const VI_LAWS: &[&str] = &[
    "Tài nguyên nước",
    "Đất đai",
    "Bảo vệ môi trường",
    "Đầu tư công",
    "Quản lý thuế",
    "Bảo hiểm xã hội",
    "Giáo dục",
    "An ninh mạng",
    "Phòng, chống tham nhũng",
    "Thủy sản",
];

const VI_PART_ORDINALS: &[&str] = &[
    "nhất", "hai", "ba", "tư", "năm", "sáu", "bảy", "tám", "chín", "mười",
];

const VI_CHAPTERS: &[&str] = &[
    "NHỮNG QUY ĐỊNH CHUNG",
    "QUẢN LÝ NHÀ NƯỚC",
    "QUYỀN VÀ NGHĨA VỤ CỦA TỔ CHỨC, CÁ NHÂN",
    "THANH TRA, KIỂM TRA VÀ XỬ LÝ VI PHẠM",
    "CẤP PHÉP HOẠT ĐỘNG",
    "TÀI CHÍNH VÀ ĐẦU TƯ",
    "BẢO VỆ, PHÒNG, CHỐNG TÁC HẠI",
    "ĐIỀU KHOẢN THI HÀNH",
];

const VI_SECTIONS: &[&str] = &[
    "QUY HOẠCH",
    "CẤP, GIA HẠN, ĐIỀU CHỈNH GIẤY PHÉP",
    "ĐIỀU TRA CƠ BẢN",
    "GIÁM SÁT HOẠT ĐỘNG",
];

/// A Vietnamese law's chapters: about a third have two to four sections (Mục), of three to
/// eight articles.
const VI_SECTIONING: Sectioning = Sectioning {
    percent: 35,
    sections: (2, 4),
    word: "Mục",
    after_number: ".",
    titles: VI_SECTIONS,
    most_articles: 8,
};

const VI_ARTICLES: &[&str] = &[
    "Đối tượng áp dụng",
    "Nguyên tắc quản lý",
    "Chính sách của Nhà nước",
    "Các hành vi bị nghiêm cấm",
    "Trách nhiệm của cơ quan quản lý",
    "Hồ sơ, trình tự, thủ tục",
    "Quyền và nghĩa vụ của tổ chức, cá nhân",
    "Thanh tra, kiểm tra",
    "Xử lý vi phạm",
    "Quy định chuyển tiếp",
    "Cấp, gia hạn, điều chỉnh giấy phép",
    "Lập, phê duyệt quy hoạch",
    "Công khai thông tin",
    "Hợp tác quốc tế",
];

const VI_POINTS: &[&str] = &["a", "b", "c", "d", "đ", "e", "g", "h"];

/// A Vietnamese law of at least `target` bytes. Past 1 MB it is organised in Parts, and the
/// article numbers restart with each Part (markers take at most four digits, and no real law
/// has ten thousand articles).
pub(crate) fn legal_vi(rng: &mut Rng, target: usize) -> String {
    let mut out = String::with_capacity(target + 8 * 1024);
    let law = rng.pick(VI_LAWS);
    let year = rng.between(2005, 2024);
    let _ = write!(
        out,
        "QUỐC HỘI\n--------\nLuật số: {}/{year}/QH{}\n\nCỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nĐộc lập - Tự do - Hạnh phúc\n---------------\n\nLUẬT\n{}\n\nCăn cứ Hiến pháp nước Cộng hòa xã hội chủ nghĩa Việt Nam;\nQuốc hội ban hành Luật {law}.\n\n",
        rng.between(1, 80),
        rng.between(11, 15),
        law.to_uppercase(),
    );
    let parts = target > 1_000_000 || (target > 200 * 1024 && rng.percent(30));
    let chapters_per_part = if target > 1_000_000 { 12 } else { 3 };
    let mut article = 0usize;
    let mut chapter = 0u16;
    let mut part = 0usize;
    while out.len() < target {
        if parts && chapter.is_multiple_of(chapters_per_part) {
            part += 1;
            match VI_PART_ORDINALS.get(part - 1) {
                Some(ordinal) => {
                    let _ = write!(out, "Phần thứ {ordinal}\n{}\n\n", rng.pick(VI_CHAPTERS));
                }
                None => {
                    let _ = write!(out, "Phần {part}\n{}\n\n", rng.pick(VI_CHAPTERS));
                }
            }
            if target > 1_000_000 {
                article = 0;
                chapter = 0;
            }
        }
        chapter += 1;
        let _ = write!(
            out,
            "Chương {}\n{}\n\n",
            roman_numeral(chapter),
            if chapter == 1 {
                VI_CHAPTERS.first().copied().unwrap_or_default()
            } else {
                rng.pick(VI_CHAPTERS)
            }
        );
        VI_SECTIONING.chapter(&mut out, rng, target, &mut article, |out, rng, number| {
            vi_article(out, rng, number, law);
        });
    }
    article += 1;
    let _ = write!(
        out,
        "Điều {article}. Hiệu lực thi hành\nLuật này có hiệu lực thi hành từ ngày 01 tháng 01 năm {}.\n\nLuật này được Quốc hội nước Cộng hòa xã hội chủ nghĩa Việt Nam khóa XV, kỳ họp thứ {} thông qua ngày {} tháng {} năm {year}.\n\nCHỦ TỊCH QUỐC HỘI\n",
        year + 1,
        rng.between(2, 9),
        rng.between(1, 28),
        rng.between(1, 12),
    );
    out
}

fn vi_article(out: &mut String, rng: &mut Rng, number: usize, law: &str) {
    if number == 1 {
        let _ = write!(
            out,
            "Điều 1. Phạm vi điều chỉnh\nLuật này quy định về {}; quyền, nghĩa vụ và trách nhiệm của cơ quan, tổ chức, cá nhân trong lĩnh vực {}.\n\n",
            rng.pick(VI.objects),
            law.to_lowercase()
        );
        return;
    }
    let _ = writeln!(out, "Điều {number}. {}", rng.pick(VI_ARTICLES));
    if rng.percent(20) {
        let _ = writeln!(out, "{}", VI.sentences(rng, 3));
        out.push('\n');
        return;
    }
    if rng.percent(30) {
        let _ = writeln!(out, "{}:", VI.clause(rng));
    }
    for clause in 1..=rng.between(1, 6) {
        if rng.percent(30) {
            let _ = writeln!(out, "{clause}. {}:", VI.clause(rng));
            let points = rng.between(2, 6);
            for (i, letter) in VI_POINTS.iter().take(points).enumerate() {
                let end = if i + 1 == points { "." } else { ";" };
                let _ = writeln!(out, "{letter}) {}{end}", capitalised(&VI.fragment(rng)));
            }
        } else {
            let _ = writeln!(out, "{clause}. {}", VI.sentences(rng, 2));
        }
    }
    out.push('\n');
}

// ---------------------------------------------------------------------------------------------
// Markdown knowledge-base articles.

const MD: Phrases = Phrases {
    subjects: &[
        "The service",
        "Each replica",
        "The scheduler",
        "Your deployment",
        "The API gateway",
        "A background worker",
        "The cache layer",
        "The database migration",
        "This endpoint",
        "The client library",
        "The load balancer",
        "The import job",
    ],
    modals: &["", "", "", "never", "always", "usually", "only"],
    verbs: &[
        "retries",
        "writes",
        "reads",
        "rotates",
        "validates",
        "streams",
        "rejects",
        "caches",
        "logs",
        "exports",
        "compresses",
        "signs",
    ],
    objects: &[
        "the request body",
        "the configuration file",
        "every failed job",
        "the access token",
        "incoming events",
        "the metrics",
        "the backup archive",
        "stale entries",
        "the connection pool",
        "a checksum of the payload",
        "the `max_connections` setting",
        "the audit log",
    ],
    tails: &[
        "before it returns",
        "on every restart",
        "when the queue is full",
        "in the background",
        "after the timeout expires",
        "unless the `--dry-run` flag is set",
        "for each tenant",
        "so that readers never see partial data",
        "with exponential backoff",
        "at most once per minute",
        "as described in [the runbook](https://example.com/runbook)",
    ],
    openers: &[
        "By default",
        "In production",
        "When the disk is full",
        "Since version 2.4",
        "For large tenants",
    ],
};

const MD_TITLES: &[&str] = &[
    "Rotating credentials",
    "Troubleshooting slow imports",
    "Configuring the scheduler",
    "Backup and restore",
    "Scaling the API gateway",
    "Migrating to the new storage engine",
    "Monitoring and alerting",
    "Access control",
];

const MD_SECTIONS: &[&str] = &[
    "Overview",
    "Before you begin",
    "Configuration",
    "Step-by-step",
    "Verifying the result",
    "Known issues",
    "Frequently asked questions",
    "Reference",
    "Rolling back",
];

const MD_CODE: &[&str] = &[
    "```bash\n# check the current state first\niu-cutter status --json | jq '.documents'\n# then run until the verification gate\niu-cutter run --until write-verify\n```\n",
    "```rust\nfn main() -> Result<(), Box<dyn std::error::Error>> {\n    let config = Config::from_env()?;\n    println!(\"connecting to {}\", config.url);\n    Ok(())\n}\n```\n",
    "```yaml\nscheduler:\n  max_jobs: 16\n  retry:\n    attempts: 5\n    backoff: exponential\n```\n",
    "```json\n{\n  \"timeout_ms\": 5000,\n  \"replicas\": 3,\n  \"tags\": [\"prod\", \"eu-west\"]\n}\n```\n",
    "~~~sql\n-- find the documents that were never cut\nSELECT id FROM documents WHERE active_generation IS NULL;\n~~~\n",
];

fn markdown(rng: &mut Rng, target: usize) -> String {
    let mut out = String::with_capacity(target + 8 * 1024);
    let title = rng.pick(MD_TITLES);
    let width = rng.between(68, 96);
    if rng.percent(40) {
        let _ = write!(
            out,
            "---\ntitle: {title}\nowner: platform-team\ntags: [operations, {}]\n---\n\n",
            rng.between(2019, 2025)
        );
    }
    if rng.percent(15) {
        let _ = write!(out, "{title}\n{}\n\n", "=".repeat(title.len()));
    } else {
        let _ = write!(out, "# {title}\n\n");
    }
    md_paragraph(&mut out, rng, width);
    let mut section = 0;
    while out.len() < target {
        section += 1;
        let _ = write!(out, "## {section}. {}\n\n", rng.pick(MD_SECTIONS));
        for sub in 0..rng.between(1, 4) {
            if sub > 0 {
                let _ = write!(out, "### {}\n\n", rng.pick(MD_SECTIONS));
            }
            for _ in 0..rng.between(1, 4) {
                match rng.below(10) {
                    0..=4 => md_paragraph(&mut out, rng, width),
                    5 | 6 => {
                        let numbered = rng.percent(40);
                        for i in 1..=rng.between(2, 6) {
                            let bullet = if numbered {
                                format!("{i}. ")
                            } else {
                                "- ".to_owned()
                            };
                            push_wrapped(&mut out, &format!("{bullet}{}", MD.sentence(rng)), width);
                        }
                        out.push('\n');
                    }
                    7 => {
                        out.push_str(rng.pick(MD_CODE));
                        out.push('\n');
                    }
                    8 => {
                        out.push_str("| Option | Default | Meaning |\n|---|---|---|\n");
                        for _ in 0..rng.between(2, 6) {
                            let _ = writeln!(
                                out,
                                "| `{}` | {} | {} |",
                                rng.pick(&["timeout_ms", "replicas", "batch_units", "retries"]),
                                rng.between(1, 5000),
                                MD.sentence(rng)
                            );
                        }
                        out.push('\n');
                    }
                    _ => {
                        push_wrapped(
                            &mut out,
                            &format!("> **Note:** {}", MD.sentence(rng)),
                            width,
                        );
                        out.push('\n');
                    }
                }
            }
        }
    }
    out
}

fn md_paragraph(out: &mut String, rng: &mut Rng, width: usize) {
    let n = rng.between(2, 6);
    let mut text = String::with_capacity(n * 110);
    for i in 0..n {
        if i > 0 {
            text.push(' ');
        }
        text.push_str(&MD.sentence(rng));
    }
    push_wrapped(out, &text, width);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use iu_cutter_cut::Cutter;
    use iu_cutter_live_execution::CutRules;

    use super::*;

    #[test]
    fn the_corpus_is_a_pure_function_of_the_seed() {
        let a = corpus(&CorpusSpec::quick(7));
        assert_eq!(a, corpus(&CorpusSpec::quick(7)));
        let b = corpus(&CorpusSpec::quick(8));
        assert_eq!(a.len(), b.len());
        assert!(a.iter().zip(&b).all(|(x, y)| x.text != y.text));
        assert_eq!(vi_laws(3, 2, 5_000, "v"), vi_laws(3, 2, 5_000, "v"));
    }

    #[test]
    fn documents_reach_their_size_and_carry_their_structure() {
        for doc in corpus(&CorpusSpec::quick(1)) {
            assert!(
                doc.text.len() >= 2_000,
                "{} is {} bytes",
                doc.id,
                doc.text.len()
            );
            let cutter = match Cutter::new(&CutRules::preset(doc.kind.preset())) {
                Ok(cutter) => cutter,
                Err(e) => panic!("{e}"),
            };
            let units = match cutter.cut(&doc.id, &doc.text) {
                Ok(units) => units,
                Err(e) => panic!("{}: {e}", doc.id),
            };
            let expected = match doc.kind {
                Kind::LegalEn => "Article ",
                Kind::LegalVi => "Điều ",
                Kind::Markdown => "## ",
            };
            match doc.kind {
                Kind::Markdown => assert!(doc.text.contains(expected), "{}", doc.id),
                _ => assert!(
                    units.iter().any(|u| u.path.contains(expected)),
                    "{}: no unit path contains {expected}",
                    doc.id
                ),
            }
            assert!(units.len() >= 2, "{}: only {} units", doc.id, units.len());
            if doc.kind == Kind::LegalVi {
                assert!(
                    doc.text.contains("Khoản") || units.iter().any(|u| u.path.contains("Khoản"))
                );
            }
        }
    }

    #[test]
    fn a_large_vietnamese_law_keeps_its_articles_recognisable() {
        let text = legal_vi(&mut Rng::new(5), 1_200_000);
        assert!(text.contains("Phần thứ nhất\n"));
        let cutter = match Cutter::new(&CutRules::preset(Preset::LegalVi)) {
            Ok(cutter) => cutter,
            Err(e) => panic!("{e}"),
        };
        let units = match cutter.cut("big", &text) {
            Ok(units) => units,
            Err(e) => panic!("{e}"),
        };
        // Every article heading line is a marker: none is left inside another unit's text.
        let articles = text.lines().filter(|l| l.starts_with("Điều ")).count();
        let article_units = units
            .iter()
            .filter(|u| {
                u.path.rsplit('/').any(|label| label.starts_with("Điều "))
                    && u.text(&text).is_some_and(|t| t.starts_with("Điều "))
            })
            .count();
        assert_eq!(articles, article_units);
    }
}
