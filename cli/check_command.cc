#include "cli/check.h"

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "builder/solve/solve.h"
#include "common/error.h"

namespace cbuild::cli {

namespace {

std::string read_ignore_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw IoError(path.string(), "cannot read the ignore file", errno);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    return bytes.str();
}

parser::LintOptions lint_options(const BuildInputs& inputs, const cache::ContentStore* store) {
    const builder::BuildRequest& request = inputs.request;
    parser::LintOptions options;
    options.build_args = request.build_args;
    options.predefined_args = builder::platform_args(request);
    // Only images already in the store tell their ENV: a check pulls nothing.
    if (store) {
        options.image_environment = [store, platform = request.target_platform](
                                        const std::string& image, const std::string&) -> std::optional<std::vector<std::string>> {
            try {
                if (const auto stored = builder::load_stored_image(*store, registry::Reference::parse(image).to_string(), platform))
                    return stored->config.config.env;
            } catch (const Error&) {
                // Not a reference, or not readable: unknown, so its stages are not checked for UndefinedVar.
            }
            return std::nullopt;
        };
    }
    options.target = request.target;
    return options;
}

std::optional<cache::ContentStore> existing_store(const GlobalOptions& globals) {
    std::optional<cache::ContentStore> store;
    if (std::filesystem::exists(globals.store_root() / "index.json")) store.emplace(globals.store_root());
    return store;
}

}  // namespace

int run_check(const BuildInputs& inputs, const GlobalOptions& globals) {
    std::optional<cache::ContentStore> store = existing_store(globals);
    cache::ContentStore* known = store ? &*store : nullptr;
    std::string bytes;
    std::string name = "Dockerfile";
    builder::Plan plan;
    parser::PatternMatcher ignore;
    bool has_ignore = false;
    if (inputs.dockerfile_path == "-") {
        // stdin can be read once: plan from the same bytes the check reads.
        bytes = read_dockerfile("-");
        plan = builder::make_plan(parser::parse_dockerfile(bytes, name), inputs.request);
        for (const std::filesystem::path& candidate : parser::ignore_file_for("", inputs.context)) {
            if (!std::filesystem::exists(candidate)) continue;
            ignore = parser::PatternMatcher::from_ignore_file(read_ignore_file(candidate), candidate.string());
            has_ignore = true;
            break;
        }
    } else {
        PlannedBuild build = plan_build(inputs, known, nullptr);
        bytes = read_dockerfile(inputs.dockerfile_path);
        name = inputs.dockerfile_path;
        plan = std::move(build.plan);
        ignore = std::move(build.ignore_patterns);
        has_ignore = !build.ignore_file.empty();
    }
    parser::LintOptions options = lint_options(inputs, known);
    options.all_stages = inputs.request.target.empty();  // as BuildKit: no target means every stage
    if (has_ignore) options.ignore = &ignore;
    const parser::LintReport report = parser::lint_dockerfile(bytes, name, options);
    for (const parser::Warning& warning : plan.warnings) std::cerr << "warning: " << warning.short_text << "\n";
    std::cerr << plan.build_order.size() << " of " << plan.stages.size() << " stages needed for the target";
    if (has_ignore) std::cerr << "; the .dockerignore has " << ignore.size() << " patterns";
    std::cerr << "\n";
    std::cout << parser::format_check_report(report, bytes);
    if (report.error_on_warnings && !report.warnings.empty())
        std::cerr << "cbuild: " << parser::lint_violation_message(report) << "\n";
    return report.warnings.empty() ? 0 : 1;
}

parser::LintReport lint_build(const BuildInputs& inputs, const cache::ContentStore* store) {
    if (inputs.dockerfile_path == "-") return {};
    const std::string bytes = read_dockerfile(inputs.dockerfile_path);
    parser::PatternMatcher ignore;
    parser::LintOptions options = lint_options(inputs, store);
    options.all_stages = false;
    for (const std::filesystem::path& candidate : parser::ignore_file_for(inputs.dockerfile_path, inputs.context)) {
        if (!std::filesystem::exists(candidate)) continue;
        ignore = parser::PatternMatcher::from_ignore_file(read_ignore_file(candidate), candidate.string());
        options.ignore = &ignore;
        break;
    }
    parser::LintReport report = parser::lint_dockerfile(bytes, inputs.dockerfile_path, options);
    if (report.error_on_warnings && !report.warnings.empty()) throw Error(parser::lint_violation_message(report));
    return report;
}

}  // namespace cbuild::cli
