#include "cli/build_inputs.h"

#include "cli/command_line.h"

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "builder/transfer/transfer.h"
#include "builder/solve/solve.h"
#include "common/error.h"
#include "registry/reference.h"

namespace cbuild::cli {

namespace po = boost::program_options;

po::options_description build_options(bool for_build) {
    po::options_description options("Options");
    options.add_options()
        ("file,f", po::value<std::string>(), "Name of the Dockerfile (default: PATH/Dockerfile; `-` reads stdin)")
        ("build-arg", po::value<std::vector<std::string>>()->composing(), "Set a build-time variable: KEY=VALUE, or KEY to take it from the environment")
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
            ("metadata-file", po::value<std::string>(), "Write the build result metadata (digests, names) to the file")
            ("check", "Parse, expand and plan the build, report problems, and build nothing");
    }
    options.add_options()("help,h", "Print this help");
    return options;
}

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
        if (values.count("iidfile")) inputs.iidfile = values["iidfile"].as<std::string>();
        if (values.count("metadata-file")) inputs.metadata_file = values["metadata-file"].as<std::string>();
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

}  // namespace

std::string read_dockerfile(const std::string& path) {
    if (path == "-") {
        return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    }
    return read_file(path, "cannot read the Dockerfile");
}

PlannedBuild plan_build(const BuildInputs& inputs, cache::ContentStore* store, registry::Client* client) {
    if (!std::filesystem::is_directory(inputs.context))
        throw IoError(inputs.context, "the build context is not a directory", ENOTDIR);
    const std::string name = inputs.dockerfile_path == "-" ? "Dockerfile" : inputs.dockerfile_path;
    const parser::Dockerfile dockerfile = parser::parse_dockerfile(read_dockerfile(inputs.dockerfile_path), name);
    builder::BuildRequest request = inputs.request;
    if (store) {
        request.image_environment = [store, client, platform = request.target_platform](
                                        const registry::Reference& image, const std::string&) {
            if (client) return builder::ensure_image(*client, *store, image, platform).config.config.env;
            const auto stored = builder::load_stored_image(*store, image.to_string(), platform);
            return stored ? stored->config.config.env : std::vector<std::string>{};
        };
    }
    PlannedBuild build{builder::make_plan(dockerfile, request), "", parser::PatternMatcher()};
    if (store && client) {
        for (std::size_t index : build.plan.build_order)
            for (const builder::PlannedStep& step : build.plan.stages[index].steps)
                for (const registry::Reference& image : step.image_inputs)
                    builder::ensure_image(*client, *store, image, request.target_platform);
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
