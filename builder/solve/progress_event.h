#pragma once
// What a build reports while it runs, as a stream of events: each step started, taken from the
// cache or not (and why), its output, its end; and the bytes of images pulled and pushed. The
// solver and the transfers only emit; the front end renders (cli/progress.h).

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace cbuild::builder {

struct ProgressEvent {
    enum class Kind {
        started,     // a step or a transfer began; the step's fields are all set
        cached,      // the step's result came from the cache (`key`)
        cache_miss,  // the step must run: `key`, and why in `text` ("; "-separated reasons)
        output,      // `text`: bytes the step's process printed (stdout and stderr, as they came)
        bytes,       // a transfer moved bytes: `blob`, `done` of `total`
        done,        // the step or transfer finished
        failed,      // it failed: `text` is the error
    };
    // What the step is: a Dockerfile instruction, or an image moved to or from a registry.
    enum class Activity { build, pull, push };

    Kind kind = Kind::started;
    std::chrono::system_clock::time_point time = std::chrono::system_clock::now();
    // Unique within a build and the same in every event of one step: a Dockerfile step is
    // "FILE#STAGE#POSITION", a transfer "pull REF" / "push REF".
    std::string step{};

    // Set on `started` only.
    Activity activity = Activity::build;
    std::string description{};  // "[build 2/5] RUN make", "pull docker.io/library/busybox:latest"
    std::string stage{};        // the stage's name, or "stage-N"
    std::size_t position = 0;  // 1-based place in the stage; 0 for an ONBUILD trigger or a transfer
    std::size_t stage_steps = 0;
    std::string file{};  // the Dockerfile, and the instruction's first and last lines in it (0: none)
    int line = 0;
    int end_line = 0;
    std::vector<std::string> depends_on{};  // ids of the steps whose results this one reads

    std::string key{};   // cached, cache_miss: the step's cache key ("sha256:…")
    std::string text{};  // cache_miss, output, failed
    std::string blob{};  // bytes: the blob's digest
    std::uint64_t done = 0;
    std::uint64_t total = 0;
};

// Receives events, possibly from several threads at once: the receiver serializes.
using ProgressSink = std::function<void(const ProgressEvent&)>;

}  // namespace cbuild::builder
