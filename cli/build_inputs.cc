#include "cli/build_inputs.h"

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "builder/solve/scheduler.h"
#include "builder/solve/solve.h"
#include "builder/transfer/transfer.h"
#include "cli/build_flags.h"
#include "cli/cache_options.h"
#include "cli/command_line.h"
#include "common/error.h"
#include "registry/reference.h"

namespace cbuild::cli {

namespace po = boost::program_options;

po::options_description build_options(bool for_build) {
    po::options_description options("Options");
    options.add_options()
        ("file,f", po::value<std::string>(), "Name of the Dockerfile (default: PATH/Dockerfile; `-` reads stdin)")
        ("build-arg", po::value<std::vector<std::string>>()->composing(), "Set a build-time variable: KEY=VALUE, or KEY to take it from the environment")
        ("build-arg-file", po::value<std::vector<std::string>>()->composing(), "Read build-time variables from a file of KEY=VALUE lines (--build-arg wins; repeatable)")
        ("build-context", po::value<std::vector<std::string>>()->composing(), "Additional build context: NAME=DIR, NAME=docker-image://REF or NAME=oci-layout://DIR[:TAG|@DIGEST] (repeatable)")
        ("target", po::value<std::string>(), "Build up to this stage (default: the last)")
        ("platform", po::value<std::string>(), "Target platform, os/arch[/variant] (default: this machine's)")
        ("insecure-registry", po::value<std::vector<std::string>>()->composing(), "Allow plain HTTP or unverified TLS for this registry HOST[:PORT] (repeatable)");
    if (for_build) {
        options.add_options()
            ("tag,t", po::value<std::vector<std::string>>()->composing(), "Name and optionally a tag, name:tag (repeatable)")
            ("output,o", po::value<std::string>(), "Output: type=image (default: the local store), type=oci|docker|tar,dest=FILE, type=local,dest=DIR")
            ("compression", po::value<std::string>(), "Layer compression: gzip (default), zstd or uncompressed")
            ("compression-level", po::value<int>(), "Compression level (gzip 0-9, zstd 1-22)")
            ("push", "Push the image to its registry under every -t name (as -o type=image,push=true)")
            ("iidfile", po::value<std::string>(), "Write the image ID (config digest) to the file")
            ("metadata-file", po::value<std::string>(), "Write the build result metadata (digests, names, each step's cache decision and times) to the file; step logs go to FILE.logs/ unless --log-dir is given")
            ("progress", po::value<std::string>(), "Progress output: auto (default: tty on a terminal, else plain), tty, plain, rawjson (one JSON object per event) or quiet")
            ("quiet,q", "Print nothing but errors, and the image ID on stdout (as --progress=quiet)")
            ("log-dir", po::value<std::string>(), "Write the full output of every step to DIR, one file per step (NN-STAGE-STEP.log)")
            ("timeline", po::value<std::string>(), "Write the build as a timeline to FILE.html: a bar per step, the critical path marked")
            ("secret", po::value<std::vector<std::string>>()->composing(), "Secret for RUN --mount=type=secret: id=ID[,src=FILE|,env=VAR] (repeatable)")
            ("ssh", po::value<std::vector<std::string>>()->composing(), "SSH agent socket for RUN --mount=type=ssh: default or ID[=SOCKET] (default: $SSH_AUTH_SOCK; repeatable)")
            ("no-cache", "Do not use the build cache: run every step (their results are still recorded)")
            ("no-cache-filter", po::value<std::vector<std::string>>()->composing(), "Do not use the cache for this stage (repeatable)")
            ("pull", "Look up every base image's tag in its registry again, even when the store has it")
            ("explain", "Print every step's cache decision: its key, and why it missed")
            ("jobs,j", po::value<std::size_t>(), "Build at most N stages at once, not counting stages whose RUN command is running (default: the number of CPUs)")
            ("cache-to", po::value<std::vector<std::string>>()->composing(), "Export the build cache: type=registry,ref=REF[,mode=min|max][,cache-mounts=true] or type=local,dest=DIR")
            ("cache-from", po::value<std::vector<std::string>>()->composing(), "Import a build cache: type=registry,ref=REF, type=local,src=DIR, or REF (repeatable)")
            ("check", "Parse, expand and plan the build, report problems, and build nothing")
            ("label", po::value<std::vector<std::string>>()->composing(), "Set a label on the image: KEY=VALUE (repeatable)")
            ("add-host", po::value<std::vector<std::string>>()->composing(), "Add a host to RUN's /etc/hosts: HOST:IP (repeatable)")
            ("network", po::value<std::string>(), "Network of RUN steps without their own --network: default, none or host")
            ("shm-size", po::value<std::string>(), "Size of RUN's /dev/shm, e.g. 64m or 1g (default 64m)")
            ("ulimit", po::value<std::vector<std::string>>()->composing(), "Resource limit of RUN steps: TYPE=SOFT[:HARD], e.g. nofile=1024:2048 (repeatable)");
    }
    options.add_options()("help,h", "Print this help");
    return options;
}

namespace {

// buildx's --secret: `id=ID` with `src=`/`source=` (a file) or `env=` (a variable), `type=file|env`
// choosing between them; with neither, the variable named ID when it is set, else the file ID.
std::pair<std::string, builder::SecretSource> parse_secret(const std::string& text) {
    std::string id, type, source, env;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t comma = std::min(text.find(',', start), text.size());
        const std::string field = text.substr(start, comma - start);
        const std::size_t equals = field.find('=');
        const std::string key = field.substr(0, equals);
        const std::string value = equals == std::string::npos ? "" : field.substr(equals + 1);
        if (equals == std::string::npos) throw UsageError("invalid --secret `" + text + "`: expected KEY=VALUE fields");
        if (key == "id") id = value;
        else if (key == "type") type = value;
        else if (key == "src" || key == "source") source = value;
        else if (key == "env") env = value;
        else throw UsageError("invalid --secret `" + text + "`: unknown key `" + key + "`");
        start = comma + 1;
    }
    if (id.empty()) throw UsageError("invalid --secret `" + text + "`: id= is required");
    if (!type.empty() && type != "file" && type != "env")
        throw UsageError("invalid --secret `" + text + "`: type must be file or env");
    builder::SecretSource secret;
    if (type == "env" || (!env.empty() && source.empty())) {
        secret.env = env.empty() ? (source.empty() ? id : source) : env;
    } else if (!source.empty()) {
        secret.file = source;
    } else if (std::getenv(id.c_str())) {
        secret.env = id;
    } else {
        secret.file = id;
    }
    if (!secret.file.empty() && !std::filesystem::is_regular_file(secret.file))
        throw UsageError("--secret " + id + ": `" + secret.file.string() + "` is not a readable file");
    return {id, secret};
}

// buildx's --ssh: `default` (the agent at $SSH_AUTH_SOCK) or `ID=SOCKET`.
std::pair<std::string, std::filesystem::path> parse_ssh(const std::string& text) {
    const std::size_t equals = text.find('=');
    const std::string id = text.substr(0, equals);
    if (id.empty()) throw UsageError("invalid --ssh `" + text + "`: the id is empty");
    std::string socket = equals == std::string::npos ? "" : text.substr(equals + 1);
    if (socket.empty()) {
        const char* agent = std::getenv("SSH_AUTH_SOCK");
        if (!agent || !*agent) throw UsageError("--ssh " + id + ": SSH_AUTH_SOCK is not set; give ID=SOCKET");
        socket = agent;
    }
    if (socket.find(',') != std::string::npos || !std::filesystem::is_socket(socket))
        throw UsageError("--ssh " + id + ": `" + socket + "` is not an agent socket (forwarding key files is not supported)");
    return {id, socket};
}

}  // namespace

std::optional<BuildInputs> parse_build_arguments(const Arguments& arguments, bool for_build,
                                                 const std::string& usage) {
    po::options_description options = build_options(for_build);
    const po::variables_map values = parse_command_line(arguments, options, "context");
    if (values.count("help")) {
        std::cout << usage << "\n\n" << options;
        return std::nullopt;
    }

    BuildInputs inputs;
    const std::vector<std::string> contexts = operands(values, "context");
    if (contexts.size() != 1)
        throw UsageError(contexts.empty() ? "requires exactly 1 argument: the build context PATH"
                                          : "requires exactly 1 argument, got " + std::to_string(contexts.size()));
    inputs.context = contexts[0];
    if (inputs.context == "-") throw UsageError("a build context from stdin (`-`) is not supported");
    inputs.dockerfile_path = values.count("file") ? values["file"].as<std::string>()
                                                  : (std::filesystem::path(inputs.context) / "Dockerfile").string();
    for (const std::string& file : repeated(values, "build-arg-file")) {
        std::ifstream in(file, std::ios::binary);
        if (!in) throw UsageError("--build-arg-file: cannot read `" + file + "`");
        std::ostringstream text;
        text << in.rdbuf();
        for (auto& [key, value] : parse_build_arg_file(text.str(), file)) inputs.request.build_args[key] = std::move(value);
    }
    for (const std::string& text : repeated(values, "build-context")) {
        auto [name, context] = parse_build_context(text);
        inputs.request.named_contexts.insert_or_assign(std::move(name), std::move(context));
    }
    for (const std::string& arg : repeated(values, "build-arg")) {
        const std::size_t equals = arg.find('=');
        const std::string key = arg.substr(0, equals);
        if (key.empty()) throw UsageError("invalid --build-arg `" + arg + "`: the name is empty");
        if (equals != std::string::npos) {
            inputs.request.build_args[key] = arg.substr(equals + 1);
        } else if (const char* value = std::getenv(key.c_str())) {
            inputs.request.build_args[key] = value;  // `--build-arg KEY` takes KEY from the environment
        }
    }
    if (values.count("target")) inputs.request.target = values["target"].as<std::string>();
    inputs.insecure_registries = repeated(values, "insecure-registry");
    inputs.request.build_platform = builder::Platform::host();
    inputs.request.target_platform = values.count("platform")
                                         ? builder::Platform::parse(values["platform"].as<std::string>())
                                         : inputs.request.build_platform;
    if (for_build) {
        inputs.check = values.count("check") > 0;
        std::optional<std::string> compression;
        std::optional<int> level;
        if (values.count("output")) {
            builder::OutputSpec spec = builder::parse_output_spec(values["output"].as<std::string>());
            inputs.output = spec.request;
            for (const auto& [key, value] : spec.options) {
                if (key == "compression") compression = value;
                if (key == "compression-level") {
                    try {
                        level = std::stoi(value);
                    } catch (const std::exception&) {
                        throw UsageError("invalid compression-level `" + value + "`");
                    }
                }
            }
        }
        if (values.count("push")) {
            if (inputs.output.type != builder::ExportType::store && inputs.output.type != builder::ExportType::registry)
                throw UsageError("--push goes with the local store or -o type=registry, not -o type=" +
                                 std::string(builder::export_type_name(inputs.output.type)));
            inputs.output.push = true;
        }
        if (inputs.output.insecure) {
            for (const std::string& name : inputs.output.names.empty() ? inputs.tags : inputs.output.names) {
                inputs.insecure_registries.push_back(reference_argument(name).domain());
            }
        }
        if (values.count("compression")) compression = values["compression"].as<std::string>();
        if (values.count("compression-level")) level = values["compression-level"].as<int>();
        try {
            if (compression) inputs.layers.compression = builder::parse_compression(*compression);
            builder::validate_level(inputs.layers.compression, level);
        } catch (const UsageError&) {
            throw;
        } catch (const Error& error) {
            throw UsageError(error.what());
        }
        inputs.layers.level = level;
        if (const char* epoch = std::getenv("SOURCE_DATE_EPOCH"); epoch && *epoch) {
            try {
                std::size_t used = 0;
                inputs.layers.source_date_epoch = std::stoll(epoch, &used);
                if (used != std::string(epoch).size() || *inputs.layers.source_date_epoch < 0) throw std::invalid_argument(epoch);
            } catch (const std::exception&) {
                throw UsageError(std::string("invalid SOURCE_DATE_EPOCH `") + epoch + "`: expected seconds since 1970");
            }
        }
        inputs.no_cache = values.count("no-cache") > 0;
        for (const std::string& stage : repeated(values, "no-cache-filter")) inputs.no_cache_filter.insert(stage);
        inputs.pull = values.count("pull") > 0;
        inputs.explain = values.count("explain") > 0;
        inputs.jobs = values.count("jobs") ? values["jobs"].as<std::size_t>() : builder::default_job_count();
        if (inputs.jobs == 0) throw UsageError("--jobs must be at least 1");
        for (const std::string& spec : repeated(values, "cache-to")) inputs.cache_to.push_back(parse_cache_to(spec));
        for (const std::string& spec : repeated(values, "cache-from")) inputs.cache_from.push_back(parse_cache_from(spec));
        for (const std::string& secret : repeated(values, "secret")) inputs.secrets.insert(parse_secret(secret));
        for (const std::string& ssh : repeated(values, "ssh")) inputs.ssh_sockets.insert(parse_ssh(ssh));
        for (const std::string& text : repeated(values, "label")) {
            auto [key, value] = parse_label(text);
            inputs.request.labels.insert_or_assign(std::move(key), std::move(value));
        }
        for (const std::string& host : repeated(values, "add-host")) inputs.run.extra_hosts.push_back(parse_add_host(host));
        if (values.count("network")) inputs.run.network = parse_network(values["network"].as<std::string>());
        if (values.count("shm-size")) inputs.run.shm_size = parse_shm_size(values["shm-size"].as<std::string>());
        for (const std::string& ulimit : repeated(values, "ulimit")) {
            const builder::SandboxRlimit limit = parse_ulimit(ulimit);
            std::erase_if(inputs.run.ulimits, [&](const builder::SandboxRlimit& other) { return other.resource == limit.resource; });
            inputs.run.ulimits.push_back(limit);
        }
        if (values.count("iidfile")) inputs.iidfile = values["iidfile"].as<std::string>();
        if (values.count("metadata-file")) inputs.metadata_file = values["metadata-file"].as<std::string>();
        if (values.count("progress")) inputs.progress = parse_progress_mode(values["progress"].as<std::string>());
        if (values.count("quiet")) inputs.progress = ProgressMode::quiet;
        if (values.count("log-dir")) inputs.log_dir = values["log-dir"].as<std::string>();
        if (values.count("timeline")) inputs.timeline = values["timeline"].as<std::string>();
        for (const std::string& tag : repeated(values, "tag")) {
            try {
                registry::Reference::parse(tag);
            } catch (const registry::ReferenceError& error) {
                throw UsageError(std::string("invalid tag: ") + error.what());
            }
            inputs.tags.push_back(tag);
        }
    }
    return inputs;
}

namespace {

std::string read_file(const std::string& path, const char* what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw IoError(path, what, errno);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    if (in.bad()) throw IoError(path, what, errno);
    return bytes.str();
}

// Pulls the images a plan names (FROM, COPY --from, RUN --mount from=) side by side, before
// the plan is made for real: a first planning pass, without the bases' ENV, only names them.
// An image named only through a base's ENV is pulled by the real pass, and so is one whose
// pull failed here (which then reports the failure where it belongs).
void pull_side_by_side(const parser::Dockerfile& dockerfile, const builder::BuildRequest& request,
                       cache::ContentStore& store, registry::Client& client, bool pull, std::set<std::string>& pulled,
                       const builder::ProgressSink& progress) {
    std::vector<registry::Reference> wanted;
    std::set<std::string> seen;
    const auto want = [&](const registry::Reference& image) {
        if (seen.insert(image.to_string()).second) wanted.push_back(image);
    };
    builder::BuildRequest scan = request;
    scan.image_environment = [&](const registry::Reference& image, const std::string&) {
        want(image);
        return std::vector<std::string>{};
    };
    try {
        const builder::Plan plan = builder::make_plan(dockerfile, scan);
        for (std::size_t index : plan.build_order)
            for (const builder::PlannedStep& step : plan.stages[index].steps)
                for (const registry::Reference& image : step.image_inputs) want(image);
    } catch (const Error&) {
        return;  // the real pass reports it
    }
    if (wanted.size() < 2) return;  // nothing to overlap
    std::vector<char> done(wanted.size(), 0);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < wanted.size(); ++i)
        threads.emplace_back([&, i] {
            try {
                if (pull) builder::pull_image(client, store, wanted[i], request.target_platform, progress);
                else builder::ensure_image(client, store, wanted[i], request.target_platform, progress);
                done[i] = 1;
            } catch (const std::exception&) {
                // Tried again, and reported, by the real pass.
            }
        });
    for (std::thread& thread : threads) thread.join();
    if (pull)
        for (std::size_t i = 0; i < wanted.size(); ++i)
            if (done[i]) pulled.insert(wanted[i].to_string());
}

}  // namespace

std::string read_dockerfile(const std::string& path) {
    if (path == "-") {
        return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    }
    return read_file(path, "cannot read the Dockerfile");
}

PlannedBuild plan_build(const BuildInputs& inputs, cache::ContentStore* store, registry::Client* client,
                        const builder::ProgressSink& progress) {
    if (!std::filesystem::is_directory(inputs.context))
        throw IoError(inputs.context, "the build context is not a directory", ENOTDIR);
    const std::string name = inputs.dockerfile_path == "-" ? "Dockerfile" : inputs.dockerfile_path;
    std::string text = read_dockerfile(inputs.dockerfile_path);
    const parser::Dockerfile dockerfile = parser::parse_dockerfile(text, name);
    builder::BuildRequest request = inputs.request;
    for (auto& [context_name, context] : request.named_contexts)
        if (store && context.kind == builder::NamedContext::Kind::oci_layout)
            context.image = import_oci_layout(context_name, context, *store, request.target_platform);
    auto pulled = std::make_shared<std::set<std::string>>();
    if (store && client) pull_side_by_side(dockerfile, request, *store, *client, inputs.pull, *pulled, progress);
    if (store) {
        request.image_environment = [store, client, platform = request.target_platform, pull = inputs.pull, pulled,
                                     progress](const registry::Reference& image, const std::string&) {
            if (client && pull && pulled->insert(image.to_string()).second)
                builder::pull_image(*client, *store, image, platform, progress);
            if (client) return builder::ensure_image(*client, *store, image, platform, progress).config.config.env;
            const auto stored = builder::load_stored_image(*store, image.to_string(), platform);
            return stored ? stored->config.config.env : std::vector<std::string>{};
        };
    }
    PlannedBuild build{builder::make_plan(dockerfile, request), "", parser::PatternMatcher(), name, std::move(text)};
    if (store && client) {
        for (std::size_t index : build.plan.build_order)
            for (const builder::PlannedStep& step : build.plan.stages[index].steps)
                for (const registry::Reference& image : step.image_inputs) {
                    if (inputs.pull && pulled->insert(image.to_string()).second)
                        builder::pull_image(*client, *store, image, request.target_platform, progress);
                    builder::ensure_image(*client, *store, image, request.target_platform, progress);
                }
    }
    const std::filesystem::path dockerfile_path = inputs.dockerfile_path == "-" ? "" : inputs.dockerfile_path;
    for (const std::filesystem::path& candidate : parser::ignore_file_for(dockerfile_path, inputs.context)) {
        if (!std::filesystem::exists(candidate)) continue;
        build.ignore_file = candidate.string();
        build.ignore_patterns = parser::PatternMatcher::from_ignore_file(
            read_file(build.ignore_file, "cannot read the ignore file"), build.ignore_file);
        break;
    }
    return build;
}

}  // namespace cbuild::cli
