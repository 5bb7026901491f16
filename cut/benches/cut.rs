//! Cut + hash throughput: one large document against many 100 KB documents of the same total
//! size, and against a bare sha256 of the same bytes (the reference: the target is a cut at no
//! less than half the bare hash's throughput).
//!
//! The total size is 8 MB; set `IU_CUT_BENCH_MB` (e.g. `IU_CUT_BENCH_MB=50`) to scale it.
//! Run with `cargo bench -p iu-cutter-cut`.

use std::sync::LazyLock;

use divan::Bencher;
use divan::counter::BytesCount;
use iu_cutter_cut::{Cutter, roman_numeral, sha256_hex};
use iu_cutter_live_execution::{CutRules, Preset};

fn main() {
    divan::main();
}

const SMALL_DOC_BYTES: usize = 100 * 1024;
const PRESETS: &[&str] = &["legal-vi", "legal-en", "markdown"];

fn total_bytes() -> usize {
    std::env::var("IU_CUT_BENCH_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&mb| mb > 0)
        .unwrap_or(8)
        * 1024
        * 1024
}

/// One preset's corpus: one large document, and many small ones of about the same total size.
struct Corpus {
    cutter: Cutter,
    large: String,
    small: Vec<String>,
    small_total: usize,
}

struct Corpora {
    legal_vi: Corpus,
    legal_en: Corpus,
    markdown: Corpus,
}

static CORPORA: LazyLock<Corpora> = LazyLock::new(|| Corpora {
    legal_vi: corpus(Preset::LegalVi, legal_vi),
    legal_en: corpus(Preset::LegalEn, legal_en),
    markdown: corpus(Preset::Markdown, markdown),
});

static AUTO: LazyLock<Cutter> =
    LazyLock::new(|| match Cutter::new(&CutRules::preset(Preset::Auto)) {
        Ok(cutter) => cutter,
        Err(e) => panic!("{e}"),
    });

fn corpus_for(preset: &str) -> &'static Corpus {
    match preset {
        "legal-vi" => &CORPORA.legal_vi,
        "legal-en" => &CORPORA.legal_en,
        _ => &CORPORA.markdown,
    }
}

fn corpus(preset: Preset, generate: fn(usize, u64) -> String) -> Corpus {
    let total = total_bytes();
    let cutter = match Cutter::new(&CutRules::preset(preset)) {
        Ok(cutter) => cutter,
        Err(e) => panic!("{e}"),
    };
    let large = generate(total, 1);
    let mut small = Vec::new();
    let mut small_total = 0;
    let mut seed = 2;
    while small_total < large.len() {
        let doc = generate(SMALL_DOC_BYTES, seed);
        small_total += doc.len();
        small.push(doc);
        seed += 1;
    }
    Corpus {
        cutter,
        large,
        small,
        small_total,
    }
}

/// A tiny deterministic generator (xorshift), to vary the text without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// A generated document of at least `target` bytes: `front`, then parts numbered from 1, each
/// written by `part`, until the target is reached; the same `seed` gives the same text.
fn build_document(
    target: usize,
    seed: u64,
    front: &str,
    mut part: impl FnMut(&mut Rng, &mut String, u16),
) -> String {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut out = String::with_capacity(target + 4096);
    out.push_str(front);
    let mut number: u16 = 0;
    while out.len() < target {
        number += 1;
        part(&mut rng, &mut out, number);
    }
    out
}

/// A generated law of at least `target` bytes: `front`, then chapters headed by the heading's
/// word, the chapter's roman numeral and the heading's title, each holding what `articles` writes
/// (given the chapter's article count). Numbering restarts with each chapter, so that one large
/// document has the same statistics as many small ones (real laws stay below a few hundred
/// articles).
fn build_law(
    target: usize,
    seed: u64,
    front: &str,
    (word, title): (&str, &str),
    mut articles: impl FnMut(&mut Rng, &mut String, &mut u32),
) -> String {
    build_document(target, seed, front, |rng, out, chapter| {
        let mut article = 0;
        out.push_str(&format!("{word} {}\n{title}\n\n", roman_numeral(chapter)));
        articles(rng, out, &mut article);
    })
}

const VI_SENTENCES: &[&str] = &[
    "Tổ chức, cá nhân khai thác, sử dụng tài nguyên nước phải có giấy phép, trừ trường hợp quy định tại khoản 2 Điều này.",
    "Cơ quan nhà nước có thẩm quyền có trách nhiệm kiểm tra, giám sát việc thực hiện các quy định của pháp luật về tài nguyên nước.",
    "Việc điều hòa, phân phối tài nguyên nước phải bảo đảm công bằng, hợp lý, ưu tiên nước cho sinh hoạt.",
    "Ủy ban nhân dân cấp tỉnh quy định chi tiết việc lập danh mục nguồn nước nội tỉnh và tổ chức thực hiện.",
    "Người lao động được bảo đảm quyền lợi theo quy định của pháp luật về lao động và bảo hiểm xã hội.",
    "Bộ trưởng Bộ Tài nguyên và Môi trường hướng dẫn thi hành Điều này.",
    "Nghiêm cấm hành vi xả nước thải chưa qua xử lý vào nguồn nước sinh hoạt.",
];

fn legal_vi(target: usize, seed: u64) -> String {
    let front = "QUỐC HỘI\nCỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nĐộc lập - Tự do - Hạnh phúc\n\nLUẬT\nTÀI NGUYÊN NƯỚC\n\nCăn cứ Hiến pháp nước Cộng hòa xã hội chủ nghĩa Việt Nam;\n\n";
    let heading = ("Chương", "NHỮNG QUY ĐỊNH CHUNG");
    build_law(target, seed, front, heading, |rng, out, article| {
        for section in 1..=rng.below(3) + 1 {
            out.push_str(&format!("Mục {section}\nQUY HOẠCH TÀI NGUYÊN NƯỚC\n\n"));
            for _ in 0..rng.below(6) + 2 {
                *article += 1;
                out.push_str(&format!("Điều {article}. Phạm vi điều chỉnh\n"));
                out.push_str(rng.pick(VI_SENTENCES));
                out.push('\n');
                for clause in 1..=rng.below(4) + 1 {
                    out.push_str(&format!("{clause}. {}\n", rng.pick(VI_SENTENCES)));
                    if rng.below(3) == 0 {
                        for point in ["a", "b", "c", "d", "đ"].iter().take(rng.below(4) + 1) {
                            out.push_str(&format!("{point}) {}\n", rng.pick(VI_SENTENCES)));
                        }
                    }
                }
                out.push('\n');
            }
        }
    })
}

const EN_SENTENCES: &[&str] = &[
    "Member States shall ensure that the competent authorities have the powers necessary to monitor compliance with this Regulation.",
    "The operator shall keep records of all abstractions for a period of not less than ten years.",
    "Where an application is incomplete, the competent authority shall inform the applicant without undue delay.",
    "This Article shall not apply to abstractions of less than ten cubic metres per day for domestic use.",
    "The Commission shall adopt implementing acts laying down the format of the reports referred to in paragraph 1.",
];

fn legal_en(target: usize, seed: u64) -> String {
    let front = "REGULATION OF THE COUNCIL\non the protection of water resources\n\nHAS ADOPTED THIS REGULATION:\n\n";
    let heading = ("Chapter", "General provisions");
    build_law(target, seed, front, heading, |rng, out, article| {
        for _ in 0..rng.below(8) + 2 {
            *article += 1;
            out.push_str(&format!("Article {article}. Definitions\n"));
            for clause in 1..=rng.below(4) + 1 {
                out.push_str(&format!("{article}.{clause} {}\n", rng.pick(EN_SENTENCES)));
                for _ in 0..rng.below(3) {
                    out.push_str(rng.pick(EN_SENTENCES));
                    out.push('\n');
                }
            }
            out.push('\n');
        }
    })
}

fn markdown(target: usize, seed: u64) -> String {
    let front = "---\ntitle: Knowledge base\n---\n\n# Knowledge base\n\nIntroduction.\n\n";
    build_document(target, seed, front, |rng, out, section| {
        out.push_str(&format!("## Section {section}\n\n"));
        for sub in 0..rng.below(4) + 1 {
            if sub > 0 {
                out.push_str(&format!("### Topic {section}.{sub}\n\n"));
            }
            for _ in 0..rng.below(4) + 1 {
                for _ in 0..rng.below(4) + 2 {
                    out.push_str(rng.pick(EN_SENTENCES));
                    out.push('\n');
                }
                out.push('\n');
            }
            if rng.below(4) == 0 {
                out.push_str("```bash\n# install\ncargo install iu-cutter\n```\n\n");
            }
        }
    })
}

#[divan::bench(args = PRESETS, sample_count = 20)]
fn bare_sha256_one_large(bencher: Bencher, preset: &str) {
    let corpus = corpus_for(preset);
    bencher
        .counter(BytesCount::new(corpus.large.len()))
        .bench(|| sha256_hex(divan::black_box(corpus.large.as_bytes())));
}

#[divan::bench(args = PRESETS, sample_count = 20)]
fn cut_hash_one_large(bencher: Bencher, preset: &str) {
    let corpus = corpus_for(preset);
    bencher
        .counter(BytesCount::new(corpus.large.len()))
        .bench(|| corpus.cutter.cut("large", divan::black_box(&corpus.large)));
}

/// The same documents cut by `auto` (the default): the choice's extra pass, then the preset it
/// chose (the one named by the argument).
#[divan::bench(args = PRESETS, sample_count = 20)]
fn auto_cut_hash_one_large(bencher: Bencher, preset: &str) {
    let corpus = corpus_for(preset);
    bencher
        .counter(BytesCount::new(corpus.large.len()))
        .bench(|| AUTO.cut("large", divan::black_box(&corpus.large)));
}

/// Keeps every document's units, as the plan does (so both cases pay for the same output; divan
/// drops the returned value outside the measurement).
#[divan::bench(args = PRESETS, sample_count = 20)]
fn cut_hash_many_small(bencher: Bencher, preset: &str) {
    let corpus = corpus_for(preset);
    bencher
        .counter(BytesCount::new(corpus.small_total))
        .bench(|| {
            corpus
                .small
                .iter()
                .map(|doc| corpus.cutter.cut("small", divan::black_box(doc)))
                .collect::<Result<Vec<_>, _>>()
        });
}
