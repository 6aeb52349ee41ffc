#pragma once
// A failed build shown as BuildKit shows it: the failed step with the last lines of its output,
// then the Dockerfile lines around the instruction with its lines marked `>>>`, then the error.

#include <string>
#include <string_view>

#include "common/error.h"

namespace cbuild::cli {

// A build that failed at a Dockerfile instruction, its display already rendered: main() prints
// what() as it is and exits with status 1.
class BuildFailure : public Error {
public:
    using Error::Error;
};

// Where a step failed, for the display: its description ("[build 2/5] RUN make"; empty when
// unknown) and its lines in the Dockerfile (end_line 0: only the error's line).
struct FailedStep {
    std::string description;
    int end_line = 0;
};

// The display of `error` (a ParseError from solving: the message's first line says what failed,
// the rest is the step's last output lines). `dockerfile` is the Dockerfile's text: the context
// box shows up to four lines around the instruction when the error's line is in it, and is left
// out when it is not (an ONBUILD trigger's line: pass no text), the error line then naming
// FILE:LINE.
std::string render_build_failure(const ParseError& error, std::string_view dockerfile, const FailedStep& step);

}  // namespace cbuild::cli
