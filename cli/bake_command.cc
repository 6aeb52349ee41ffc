// `cbuild bake [-f FILE] [SERVICE...]`: builds the services of a compose file that have a
// `build:` section, as `docker compose build` and `docker buildx bake` do. Every service is
// planned first, on this thread, so each base image is pulled once; then the services solve
// in parallel (up to --jobs) on the one store, where the solver's per-step lock makes a stage
// that two services share run once. A failing service does not stop the others: they finish,
// and bake then fails naming every service that did not build. After all of them, the store gets
// the automatic GC that `build` runs after its one.

#include <boost/program_options.hpp>
#include <cerrno>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <streambuf>

#include "builder/sandbox/sandbox.h"
#include "builder/solve/scheduler.h"
#include "builder/solve/solve.h"
#include "builder/transfer/transfer.h"
#include "cache/gc.h"
#include "cli/build_inputs.h"
#include "cli/build_session.h"
#include "cli/check.h"
#include "cli/cache_options.h"
#include "cli/command_line.h"
#include "cli/commands.h"
#include "cli/compose_file.h"
#include "cli/failure_display.h"
#include "cli/progress.h"
#include "cli/registry_access.h"
#include "common/atomic_file.h"
#include "common/error.h"

namespace cbuild::cli {

namespace {

namespace po = boost::program_options;

// One service's lines on stderr: each whole line goes out at once under the terminal's mutex,
// prefixed `[service] `, or, for rawjson, with the service as the first field of its object, so
// services that build at once never mix within a line.
class ServiceLines final : public std::streambuf {
public:
    enum class Tag { prefix, json_field };

    ServiceLines(const std::string& service, Tag tag, std::mutex& terminal)
        : m_tag(tag == Tag::prefix ? "[" + service + "] " : "\"service\":" + nlohmann::json(service).dump() + ","),
          m_json(tag == Tag::json_field),
          m_terminal(terminal) {}
    ~ServiceLines() override {
        if (!m_line.empty()) {
            m_line.push_back('\n');
            emit();
        }
    }
    ServiceLines(const ServiceLines&) = delete;
    ServiceLines& operator=(const ServiceLines&) = delete;

protected:
    int_type overflow(int_type ch) override {
        if (traits_type::eq_int_type(ch, traits_type::eof())) return traits_type::not_eof(ch);
        put(traits_type::to_char_type(ch));
        return ch;
    }

    std::streamsize xsputn(const char* text, std::streamsize size) override {
        for (std::streamsize i = 0; i < size; ++i) put(text[i]);
        return size;
    }

private:
    void put(char ch) {
        m_line.push_back(ch);
        if (ch == '\n') emit();
    }

    void emit() {
        const std::lock_guard lock(m_terminal);
        if (m_json && m_line.starts_with('{')) {
            std::cerr << '{' << m_tag << std::string_view(m_line).substr(1);
        } else if (m_json) {
            std::cerr << m_line;
        } else {
            std::cerr << m_tag << m_line;
        }
        m_line.clear();
    }

    std::string m_tag;
    bool m_json;
    std::mutex& m_terminal;
    std::string m_line;  // written since the last newline
};

// Where one service's progress and lines go, and its progress: the streams outlive the display.
class ServiceOutput {
public:
    ServiceOutput(const std::string& service, ProgressMode mode, std::mutex& terminal)
        : m_info_lines(service, ServiceLines::Tag::prefix, terminal),
          m_display_lines(service,
                          mode == ProgressMode::rawjson ? ServiceLines::Tag::json_field : ServiceLines::Tag::prefix,
                          terminal),
          m_info(mode == ProgressMode::quiet ? nullptr : &m_info_lines),
          m_display(&m_display_lines),
          m_progress(make_progress_display(mode, m_display, /*terminal=*/false, /*explain=*/false), {}) {}

    std::ostream& info() { return m_info; }
    BuildProgress& progress() { return m_progress; }

private:
    ServiceLines m_info_lines;
    ServiceLines m_display_lines;
    std::ostream m_info;
    std::ostream m_display;
    BuildProgress m_progress;
};

// Where the `dockerfile_inline` bodies are written for the planner, removed when bake ends.
class InlineDockerfiles {
public:
    InlineDockerfiles() = default;
    ~InlineDockerfiles() {
        std::error_code ignored;  // a leftover in $TMPDIR is harmless; a destructor must not throw
        if (!m_dir.empty()) std::filesystem::remove_all(m_dir, ignored);
    }
    InlineDockerfiles(const InlineDockerfiles&) = delete;
    InlineDockerfiles& operator=(const InlineDockerfiles&) = delete;

    std::filesystem::path write(const std::string& service, const std::string& text) {
        if (m_dir.empty()) {
            std::string pattern = (std::filesystem::temp_directory_path() / "cbuild-bake-XXXXXX").string();
            if (!::mkdtemp(pattern.data())) throw IoError(pattern, "mkdtemp", errno);
            m_dir = pattern;
        }
        const std::filesystem::path path = m_dir / (service + ".Dockerfile");
        write_file_atomically(path, text);
        return path;
    }

private:
    std::filesystem::path m_dir;
};

// What bake was asked for on its command line.
struct BakeOptions {
    bool push = false;
    bool no_cache = false;
    bool pull = false;
    std::size_t jobs = 1;
    std::vector<std::string> insecure_registries;
    ProgressMode progress = ProgressMode::plain;  // resolved: plain, rawjson or quiet
};

// One service to build: its inputs as `cbuild build` would have them, and what became of it.
struct ServiceBuild {
    const ComposeService* service = nullptr;
    BuildInputs inputs;
    std::optional<PlannedBuild> planned;
    parser::LintReport lint;
    std::unique_ptr<ServiceOutput> output;
    std::exception_ptr failure;
};

[[noreturn]] void fail_at(const ComposeProject& project, const ComposeBuild& build, const std::string& message) {
    throw ParseError(project.file.string(), build.line, 0, message, "");
}

// The inputs `cbuild build` would get for this service.
BuildInputs service_inputs(const ComposeProject& project, const ComposeService& service, const BakeOptions& options,
                           InlineDockerfiles& inline_dockerfiles) {
    const ComposeBuild& build = *service.build;
    const std::string name = "service `" + service.name + "`: ";
    BuildInputs inputs;
    inputs.context = build.context.string();
    inputs.dockerfile_path = build.dockerfile_inline ? inline_dockerfiles.write(service.name, *build.dockerfile_inline).string()
                                                     : build.dockerfile.string();
    inputs.request.build_args = build.args;
    inputs.request.target = build.target;
    inputs.request.labels = build.labels;
    inputs.request.build_platform = builder::Platform::host();
    inputs.request.target_platform = inputs.request.build_platform;
    for (const std::string& platform : build.platforms) {
        builder::Platform parsed;
        try {
            parsed = builder::Platform::parse(platform);
        } catch (const Error& error) {
            fail_at(project, build, name + error.what());
        }
        if (!(parsed == inputs.request.build_platform))
            fail_at(project, build, name + "platform `" + platform + "` is not this machine's (" +
                                        inputs.request.build_platform.to_string() +
                                        "); cbuild builds for its own platform only");
    }
    if (build.network == "none") {
        inputs.run.network = parser::NetworkMode::none;
    } else if (build.network == "host") {
        inputs.run.network = parser::NetworkMode::host;
    } else if (!build.network.empty() && build.network != "default") {
        fail_at(project, build, name + "network `" + build.network + "`: a build runs on `default`, `host` or `none`");
    }
    for (const std::string& tag : build.tags) {
        try {
            registry::Reference::parse(tag);
        } catch (const registry::ReferenceError& error) {
            fail_at(project, build, name + "invalid image name: " + error.what());
        }
        inputs.tags.push_back(tag);
    }
    for (const auto& [id, secret] : build.secrets) {
        if (!secret.file.empty() && !std::filesystem::is_regular_file(secret.file))
            fail_at(project, build, name + "secret `" + id + "`: `" + secret.file.string() + "` is not a readable file");
        inputs.secrets[id] = builder::SecretSource{.file = secret.file, .env = secret.env};
    }
    try {
        for (const std::string& spec : build.cache_from) inputs.cache_from.push_back(parse_cache_from(spec));
        for (const std::string& spec : build.cache_to) inputs.cache_to.push_back(parse_cache_to(spec));
    } catch (const UsageError& error) {
        fail_at(project, build, name + error.what());
    }
    inputs.insecure_registries = options.insecure_registries;
    inputs.no_cache = options.no_cache || build.no_cache;
    inputs.pull = options.pull || build.pull;
    inputs.jobs = options.jobs;
    inputs.output.push = options.push;
    inputs.progress = options.progress;
    return inputs;
}

// Every image the plan reads from a registry: the bases of its stages and COPY --from /
// RUN --mount images.
void collect_images(const builder::Plan& plan, std::set<std::string>& images) {
    for (std::size_t index : plan.build_order) {
        const builder::PlannedStage& stage = plan.stages[index];
        if (stage.base.kind == builder::StageBase::Kind::image) images.insert(stage.base.image->to_string());
        for (const builder::PlannedStep& step : stage.steps)
            for (const registry::Reference& image : step.image_inputs) images.insert(image.to_string());
    }
}

// The services named on the command line (all when none is), in the file's order. Throws
// UsageError naming every unknown one.
std::vector<const ComposeService*> select_services(const ComposeProject& project, const std::vector<std::string>& names) {
    std::set<std::string> wanted(names.begin(), names.end());
    std::vector<const ComposeService*> selected;
    for (const ComposeService& service : project.services) {
        if (!names.empty() && !wanted.erase(service.name)) continue;
        selected.push_back(&service);
    }
    if (!wanted.empty()) {
        std::string list;
        for (const std::string& name : wanted) list += (list.empty() ? "" : ", ") + name;
        throw UsageError("no such service in " + project.file.string() + ": " + list);
    }
    return selected;
}

// Plans every service, then builds them as jobs of one scheduler, each failure kept in its
// ServiceBuild. Throws what planning throws (after naming the service) and what pulls throw.
void bake_services(std::vector<ServiceBuild>& builds, const BakeOptions& options, cache::ContentStore& store,
                   std::ostream& info) {
    // Held from the first blob a build writes until every tag is set, so a concurrent prune
    // never removes what the builds made but have not named yet.
    const cache::GcLease lease(store.root());
    // Plans come first, one service after another on this thread: planning pulls the base images
    // a service needs and the store lacks, so an image that several services use is fetched
    // once. With --pull, each distinct image is then pulled once and the services are planned
    // again over the fresh images' ENV.
    std::set<std::string> images;
    const auto plan = [&store](ServiceBuild& build) {
        BuildInputs planning = build.inputs;
        planning.pull = false;
        registry::Client client(client_options(insecure_registries(build.inputs)));
        build.planned = plan_build(planning, &store, &client, build.output->progress().sink());
    };
    for (ServiceBuild& build : builds) {
        try {
            registry::Client client(client_options(insecure_registries(build.inputs)));
            import_build_cache(build.inputs, client, store, build.output->info());
            plan(build);
            build.lint = lint_build(build.inputs, &store);
        } catch (const Error&) {
            // The error names the Dockerfile line, path or image; this names the service.
            std::cerr << "[" << build.service->name << "] could not be planned; nothing was built\n";
            throw;
        }
        if (build.inputs.pull) collect_images(build.planned->plan, images);
    }
    if (!images.empty()) {
        registry::Client client(client_options(options.insecure_registries));
        for (const std::string& image : images) {
            info << "pulling " << image << "\n";
            builder::pull_image(client, store, registry::Reference::parse(image), builder::Platform::host());
        }
        for (ServiceBuild& build : builds) plan(build);
    }

    builder::Scheduler scheduler(options.jobs);
    std::vector<builder::Scheduler::JobId> targets;
    for (ServiceBuild& build : builds)
        targets.push_back(scheduler.add(build.service->name, {}, [&build, &store](const builder::CancelToken&) {
            try {
                registry::Client client(client_options(insecure_registries(build.inputs)));
                run_planned_build(build.inputs, *build.planned, build.lint, store, client, build.output->progress(),
                                  build.output->info());
            } catch (...) {
                build.failure = std::current_exception();
            }
        }));
    scheduler.run(targets);
}

}  // namespace

int run_bake(const Arguments& arguments, const GlobalOptions& globals) {
    po::options_description description("Options");
    description.add_options()
        ("file,f", po::value<std::string>(), "The compose file (default: compose.yaml, compose.yml, docker-compose.yaml or docker-compose.yml here)")
        ("push", "Push each service's image under its `image:` and `build.tags` names")
        ("no-cache", "Take no step from the build cache")
        ("pull", "Pull every base image again, even when the store has it")
        ("jobs,j", po::value<std::size_t>(), "Services (and each one's stages) built at once (default: the CPUs)")
        ("insecure-registry", po::value<std::vector<std::string>>()->composing(), "Allow plain HTTP or unverified TLS for this registry HOST[:PORT] (repeatable)")
        ("progress", po::value<std::string>(), "auto, plain, rawjson or quiet: each service's lines prefixed `[service] `, each rawjson object with a \"service\" field (default: auto, which is plain)")
        ("help,h", "Print this help");
    const po::variables_map values = parse_command_line(arguments, description, "service");
    if (values.count("help")) {
        std::cout << "Usage: cbuild bake [OPTIONS] [SERVICE...]\n\nBuild the services of a compose file that have a "
                     "`build:` section.\n\n"
                  << description;
        return 0;
    }
    BakeOptions options;
    options.push = values.count("push") > 0;
    options.no_cache = values.count("no-cache") > 0;
    options.pull = values.count("pull") > 0;
    options.jobs = values.count("jobs") ? values["jobs"].as<std::size_t>() : builder::default_job_count();
    if (options.jobs == 0) throw UsageError("--jobs must be at least 1");
    options.insecure_registries = repeated(values, "insecure-registry");
    // Services build at once, so there is no one step to redraw: the tty view is plain here.
    if (values.count("progress")) {
        const ProgressMode mode = parse_progress_mode(values["progress"].as<std::string>());
        if (mode == ProgressMode::rawjson || mode == ProgressMode::quiet) options.progress = mode;
    }
    std::ostream& info = info_stream(options.progress);

    std::filesystem::path file;
    if (values.count("file")) {
        file = values["file"].as<std::string>();
    } else if (const auto found = find_compose_file(std::filesystem::current_path())) {
        file = found->filename();
    } else {
        throw UsageError("no compose file here: looked for compose.yaml, compose.yml, docker-compose.yaml and "
                         "docker-compose.yml (name one with -f)");
    }
    const ComposeProject project = load_compose_file(file);

    std::mutex terminal;
    InlineDockerfiles inline_dockerfiles;
    std::vector<ServiceBuild> builds;
    for (const ComposeService* service : select_services(project, operands(values, "service"))) {
        if (!service->build) {
            info << "[" << service->name << "] skipped: no `build:` section (the service runs "
                      << (service->image.empty() ? std::string("no image") : "image `" + service->image + "`") << ")\n";
            continue;
        }
        ServiceBuild build;
        build.service = service;
        build.inputs = service_inputs(project, *service, options, inline_dockerfiles);
        build.output = std::make_unique<ServiceOutput>(service->name, options.progress, terminal);
        // The first tag is `image:` or compose's default name, which names no registry.
        for (std::size_t i = 0; i < build.inputs.tags.size(); ++i)
            if (i > 0 || !service->image.empty()) build.inputs.output.names.push_back(build.inputs.tags[i]);
        if (build.inputs.output.push && build.inputs.output.names.empty()) {
            build.output->info() << "not pushed: the service has neither `image:` nor `build.tags`\n";
            build.inputs.output.push = false;
        }
        builds.push_back(std::move(build));
    }
    if (builds.empty()) {
        info << "nothing to build: no selected service has a `build:` section\n";
        return 0;
    }

    cache::ContentStore store(globals.store_root());
    bake_services(builds, options, store, info);
    collect_garbage(store.root(), info);  // once, after every service, as `build` does after its one

    std::vector<std::string> failed;
    for (ServiceBuild& build : builds) {
        if (!build.failure) continue;
        failed.push_back(build.service->name);
        try {
            std::rethrow_exception(build.failure);
        } catch (const InterruptedError&) {
            // Ctrl-C: said once below, not once per service.
        } catch (const ParseError& error) {
            std::cerr << "cbuild: service `" << build.service->name << "`: " << error.render() << "\n";
        } catch (const BuildFailure& error) {
            std::cerr << "cbuild: service `" << build.service->name << "`: failed at a step\n" << error.what() << "\n";
        } catch (const std::exception& error) {
            std::cerr << "cbuild: service `" << build.service->name << "`: " << error.what() << "\n";
        }
    }
    if (builder::cancel_requested()) throw InterruptedError("bake interrupted");
    if (!failed.empty()) {
        std::string list;
        for (const std::string& name : failed) list += (list.empty() ? "" : ", ") + name;
        throw Error(std::to_string(failed.size()) + " of " + std::to_string(builds.size()) + " services failed: " + list);
    }
    info << "built " << builds.size() << (builds.size() == 1 ? " service\n" : " services\n");
    return 0;
}

}  // namespace cbuild::cli
