// Parser benchmark: a 10,000-line Dockerfile, parsed (syntax tree + typed instructions) and
// planned with every instruction expanded, against the target of under 20 ms. Also parses every
// Dockerfile of ../shared/corpus once and reports the total. Prints medians of repeated runs.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "builder/plan/plan.h"
#include "common/error.h"
#include "parser/dockerfile.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr double k_target_ms = 20.0;

// A single-stage Dockerfile of `lines` physical lines that looks like real ones: ARGs and ENVs
// referenced later, long RUN lines with continuations, COPY with flags, labels, heredocs.
std::string generate_dockerfile(int lines) {
    std::ostringstream out;
    out << "# syntax=docker/dockerfile:1\nARG BASE=debian:12\nFROM ${BASE} AS build\n";
    int written = 3;
    for (int block = 0; written < lines; ++block) {
        out << "ARG VERSION_" << block << "=1." << block << ".0\n"
            << "ENV APP_HOME=/opt/app" << block << " PATH=/opt/app" << block << "/bin:$PATH \\\n"
            << "    LANG=C.UTF-8\n"
            << "LABEL org.opencontainers.image.version=\"${VERSION_" << block << "}\" maintainer=\"team@example.com\"\n"
            << "WORKDIR ${APP_HOME}/src\n"
            << "RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \\\n"
            << "    set -eux; \\\n"
            << "    apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \\\n"
            << "    && curl -fsSL https://example.com/v${VERSION_" << block << "}/app.tar.gz | tar -xz -C \"$APP_HOME\" \\\n"
            << "    && rm -rf /var/lib/apt/lists/*\n"
            << "COPY --chown=1000:1000 --chmod=0755 bin/ ${APP_HOME}/bin/\n"
            << "COPY <<EOF ${APP_HOME}/etc/app.conf\nversion=${VERSION_" << block << "}\nhome=$APP_HOME\nEOF\n"
            << "EXPOSE 80" << (block % 100) << "/tcp\n"
            << "USER 1000:1000\n"
            << "HEALTHCHECK --interval=30s --timeout=3s CMD [\"curl\", \"-f\", \"http://localhost/\"]\n"
            << "CMD [\"app\", \"--config\", \"/opt/app/etc/app.conf\"]\n";
        written += 19;
    }
    return out.str();
}

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
}

double milliseconds_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace

int main() {
    const std::string dockerfile = generate_dockerfile(10'000);
    const auto line_count = std::count(dockerfile.begin(), dockerfile.end(), '\n');
    cbuild::builder::BuildRequest request;
    request.build_platform = request.target_platform = cbuild::builder::Platform::host();

    std::vector<double> runs;
    std::size_t steps = 0;
    for (int i = 0; i < 21; ++i) {
        const auto start = Clock::now();
        const cbuild::parser::Dockerfile parsed = cbuild::parser::parse_dockerfile(dockerfile, "Dockerfile");
        const cbuild::builder::Plan plan = cbuild::builder::make_plan(parsed, request);
        runs.push_back(milliseconds_since(start));
        steps = plan.stages[plan.target].steps.size();
    }
    const double parse_ms = median(runs);
    std::printf("parse+expand %ld lines (%zu instructions): median %.2f ms of %zu runs; target < %.0f ms: %s\n",
                static_cast<long>(line_count), steps, parse_ms, runs.size(), k_target_ms,
                parse_ms < k_target_ms ? "met" : "MISSED");

    const std::filesystem::path corpus = std::filesystem::path(CBUILD_SHARED_DIR) / "corpus";
    if (std::filesystem::is_directory(corpus)) {
        std::vector<std::string> files;
        std::size_t bytes = 0;
        for (const auto& entry : std::filesystem::directory_iterator(corpus)) {
            const std::string name = entry.path().filename().string();
            if (name == "INDEX.tsv" || name == "SOURCES.tsv" || name.rfind("README", 0) == 0) continue;
            std::ifstream in(entry.path(), std::ios::binary);
            std::ostringstream content;
            content << in.rdbuf();
            files.push_back(content.str());
            bytes += files.back().size();
        }
        std::vector<double> corpus_runs;
        std::size_t failures = 0;
        for (int i = 0; i < 5; ++i) {
            failures = 0;
            const auto start = Clock::now();
            for (const std::string& file : files) {
                try {
                    (void)cbuild::parser::parse_dockerfile(file, "Dockerfile");
                } catch (const cbuild::Error&) {
                    ++failures;
                }
            }
            corpus_runs.push_back(milliseconds_since(start));
        }
        std::printf("corpus: %zu files, %.1f MB parsed in median %.1f ms (%zu rejected, as expected for the failing fixtures)\n",
                    files.size(), static_cast<double>(bytes) / 1e6, median(corpus_runs), failures);
    }
    return parse_ms < k_target_ms ? 0 : 1;
}
