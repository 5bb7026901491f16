"""Times LangChain's RecursiveCharacterTextSplitter on the corpus files the Rust side wrote.

Written out and run by `iu-cutter-bench` (cargo xtask bench). Usage:

    python langchain_split.py MANIFEST REPS CHUNK_SIZE[,CHUNK_SIZE...]

Reads every file named in MANIFEST (JSON: {"files": [...]}) before any timing. For each chunk
size: checks once that the splitter is lossless on it (chunk_overlap=0 and
strip_whitespace=False, so the chunks joined give back the text), which is also the warm-up,
then times only the `split_text` calls, REPS times. Prints one JSON object on stdout.
"""

import json
import sys
import time


def main() -> None:
    manifest_path, reps = sys.argv[1], int(sys.argv[2])
    chunk_sizes = [int(size) for size in sys.argv[3].split(",")]
    from importlib.metadata import version

    from langchain_text_splitters import RecursiveCharacterTextSplitter

    with open(manifest_path, encoding="utf-8") as f:
        files = json.load(f)["files"]
    texts = []
    for path in files:
        # newline="" keeps the bytes' line endings exactly as written.
        with open(path, encoding="utf-8", newline="") as f:
            texts.append(f.read())

    results = []
    for chunk_size in chunk_sizes:
        splitter = RecursiveCharacterTextSplitter(
            chunk_size=chunk_size,
            chunk_overlap=0,
            strip_whitespace=False,
        )
        chunks = 0
        lossless = True
        for text in texts:
            parts = splitter.split_text(text)
            chunks += len(parts)
            if "".join(parts) != text:
                lossless = False
        samples = []
        for _ in range(reps):
            started = time.perf_counter()
            for text in texts:
                splitter.split_text(text)
            samples.append(time.perf_counter() - started)
        results.append(
            {
                "chunk_size": chunk_size,
                "chunks": chunks,
                "lossless": lossless,
                "samples_s": samples,
            }
        )

    print(
        json.dumps(
            {
                "version": version("langchain-text-splitters"),
                "python": sys.version.split()[0],
                "files": len(texts),
                "bytes": sum(len(t.encode("utf-8")) for t in texts),
                "chars": sum(len(t) for t in texts),
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
