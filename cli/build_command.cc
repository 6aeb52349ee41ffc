// `cbuild [build] [OPTIONS] PATH`.

#include <iostream>

#include "cli/build_inputs.h"
#include "cli/commands.h"
#include "common/error.h"

namespace cbuild::cli {

int run_build(const Arguments& arguments) {
    const auto inputs = parse_build_arguments(arguments, /*for_build=*/true,
                                              "Usage: cbuild [build] [OPTIONS] PATH\n\nBuild an image from a Dockerfile.");
    if (!inputs) return 0;
    const PlannedBuild build = plan_build(*inputs);
    const builder::Plan& plan = build.plan;
    for (const parser::Warning& warning : plan.warnings) std::cerr << "warning: " << warning.short_text << "\n";
    if (inputs->check) {
        std::cout << "Check complete, no problems found: " << plan.build_order.size() << " of " << plan.stages.size()
                  << " stages needed for the target";
        if (!build.ignore_file.empty())
            std::cout << "; " << build.ignore_file << " has " << build.ignore_patterns.size() << " patterns";
        std::cout << "\n";
        return 0;
    }
    throw Error("this version of cbuild checks and plans builds but cannot execute them yet "
                "(use --check, or `cbuild debug plan` to see the plan)");
}

}  // namespace cbuild::cli
