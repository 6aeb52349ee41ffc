#pragma once
// BuildKit's build checks from the command line: `cbuild build --check` (lint and plan, build
// nothing) and the warnings a normal build prints.

#include <ostream>

#include "cache/content_store.h"
#include "cli/build_inputs.h"
#include "cli/commands.h"
#include "parser/lint.h"

namespace cbuild::cli {

// `build --check`: plans the build (so a bad target or reference fails as the build would),
// then prints `docker build --check`'s report to stdout. Returns 1 when any warning was found,
// else 0. Throws what plan_build and parser::lint_dockerfile throw; never creates a store.
int run_check(const BuildInputs& inputs, const GlobalOptions& globals);

// The warnings of a build about to run, for the stages its target needs. Throws cbuild::Error
// ("lint violation found for rules: ...") when the Dockerfile says check=error=true and there
// are warnings. A Dockerfile read from stdin has been consumed by then and gets no report.
parser::LintReport lint_build(const BuildInputs& inputs, const cache::ContentStore* store);

}  // namespace cbuild::cli
