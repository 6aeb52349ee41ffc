// Typed instructions from hand-built syntax-tree nodes: every keyword and flag, valid and
// invalid values, the helpers (flags, --mount, --chmod, durations) and the expansion hook.

#include "parser/instructions.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>

#include "common/error.h"
#include "parser/internal/chmod.h"
#include "parser/internal/duration.h"
#include "parser/internal/flags.h"
#include "parser/internal/instruction_error.h"
#include "parser/internal/run_mount.h"
#include "parser/shell_lex.h"

namespace cbuild::parser {
namespace {

using internal::Flags;
using internal::InstructionError;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

std::string upper(std::string text) {
    for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return text;
}

// A node as parse_ast would give it; `original` is rebuilt from the parts.
Node make_node(const std::string& keyword, std::vector<std::string> args,
               std::vector<std::string> flags = {}, bool json_form = false) {
    Node node;
    node.keyword = keyword;
    node.original = upper(keyword);
    for (const std::string& flag : flags) node.original += " " + flag;
    for (const std::string& arg : args) node.original += " " + arg;
    node.args = std::move(args);
    node.flags = std::move(flags);
    node.json_form = json_form;
    node.start_line = 7;
    node.end_line = 8;
    return node;
}

template <typename T>
T parse_as(const Node& node) {
    Instruction instruction = parse_instruction(node, "Dockerfile");
    EXPECT_TRUE(std::holds_alternative<T>(instruction)) << instruction_name(instruction);
    return std::get<T>(instruction);
}

// The ParseError parsing `node` throws; fails the test when there is none.
ParseError parse_error(const Node& node) {
    try {
        parse_instruction(node, "Dockerfile");
    } catch (const ParseError& error) {
        return error;
    }
    ADD_FAILURE() << "no error for " << node.original;
    return ParseError("", 0, 0, "");
}

std::string error_message(const Node& node) { return parse_error(node).message(); }

// Uppercases every word it is given, so a test shows exactly which fields were expanded.
class UppercaseExpander : public WordExpander {
public:
    std::string word(std::string_view text) override {
        ++calls;
        return upper(std::string(text));
    }
    std::vector<std::string> words(std::string_view text) override {
        std::vector<std::string> out;
        std::string current;
        for (char c : text) {
            if (c == ' ') {
                if (!current.empty()) out.push_back(upper(current));
                current.clear();
            } else {
                current += c;
            }
        }
        if (!current.empty()) out.push_back(upper(current));
        return out;
    }
    int calls = 0;
};

// --- flags ----------------------------------------------------------------------------------

TEST(FlagsTest, ParsesStringBoolAndRepeatedList) {
    Flags flags({"--from=build", "--link", "--exclude=*.md", "--exclude=tmp/"});
    flags.add_string("from");
    flags.add_bool("link");
    flags.add_strings("exclude");
    flags.add_string("chown", "root");
    flags.parse();
    EXPECT_EQ(flags.get_string("from"), "build");
    EXPECT_TRUE(flags.get_bool("link"));
    EXPECT_THAT(flags.get_strings("exclude"), ElementsAre("*.md", "tmp/"));
    EXPECT_EQ(flags.get_string("chown"), "root");
    EXPECT_FALSE(flags.is_used("chown"));
    EXPECT_THAT(flags.used(), ElementsAre("exclude", "from", "link"));
}

TEST(FlagsTest, BoolAcceptsTrueAndFalseInAnyCase) {
    Flags flags({"--link=FALSE", "--parents=True"});
    flags.add_bool("link", true);
    flags.add_bool("parents");
    flags.parse();
    EXPECT_FALSE(flags.get_bool("link"));
    EXPECT_TRUE(flags.get_bool("parents"));
}

TEST(FlagsTest, StringMayBeEmptyWithEquals) {
    Flags flags({"--chown="});
    flags.add_string("chown", "x");
    flags.parse();
    EXPECT_EQ(flags.get_string("chown"), "");
}

TEST(FlagsTest, Errors) {
    const auto error = [](std::vector<std::string> args) {
        Flags flags(std::move(args));
        flags.add_string("from");
        flags.add_bool("link");
        flags.add_strings("exclude");
        try {
            flags.parse();
        } catch (const InstructionError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_EQ(error({"--foo"}), "unknown flag: --foo");
    EXPECT_EQ(error({"--form=x"}), "unknown flag: --form (did you mean from?)");
    EXPECT_EQ(error({"--from"}), "missing a value on flag: --from");
    EXPECT_EQ(error({"--exclude"}), "missing a value on flag: --exclude");
    EXPECT_EQ(error({"--link="}), "missing a value on flag: --link");
    EXPECT_EQ(error({"--link=yes"}), "expecting boolean value for flag --link, not: yes");
    EXPECT_EQ(error({"--from=a", "--from=b"}), "duplicate flag specified: --from");
    EXPECT_EQ(error({"--link", "--link"}), "duplicate flag specified: --link");
}

TEST(FlagsTest, DoubleDashEndsFlags) {
    Flags flags({"--link", "--", "--unknown"});
    flags.add_bool("link");
    EXPECT_NO_THROW(flags.parse());
    EXPECT_TRUE(flags.get_bool("link"));
}

TEST(FlagsTest, DeclaringTwiceIsAProgrammingError) {
    Flags flags({});
    flags.add_bool("link");
    EXPECT_THROW(flags.add_string("link"), std::logic_error);
    EXPECT_THROW(flags.get_string("link"), std::logic_error);
}

// --- durations ------------------------------------------------------------------------------

TEST(DurationTest, GoSyntax) {
    using internal::parse_go_duration;
    EXPECT_EQ(parse_go_duration("30s"), 30s);
    EXPECT_EQ(parse_go_duration("1m30s"), 90s);
    EXPECT_EQ(parse_go_duration("1.5h"), 90min);
    EXPECT_EQ(parse_go_duration("0"), 0s);
    EXPECT_EQ(parse_go_duration("-2ms"), -2ms);
    EXPECT_EQ(parse_go_duration("300us"), 300us);
    EXPECT_EQ(parse_go_duration("1\xC2\xB5s"), 1us);
    EXPECT_EQ(parse_go_duration(".5s"), 500ms);
}

TEST(DurationTest, GoErrors) {
    const auto error = [](std::string_view text) {
        try {
            internal::parse_go_duration(text);
        } catch (const InstructionError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_EQ(error("1"), "time: missing unit in duration \"1\"");
    EXPECT_EQ(error("1d"), "time: unknown unit \"d\" in duration \"1d\"");
    EXPECT_EQ(error(""), "time: invalid duration \"\"");
    EXPECT_EQ(error("s"), "time: invalid duration \"s\"");
    EXPECT_EQ(error("."), "time: invalid duration \".\"");
    EXPECT_EQ(error("99999999999h"), "time: invalid duration \"99999999999h\"");
}

// --- chmod ----------------------------------------------------------------------------------

TEST(ChmodTest, ValidValues) {
    for (const char* valid : {"755", "0644", "7777", "0", "u+x", "go-w", "a=rX", "u=rwx,go=u-w",
                              "+x", "=", "o=", "u+s", "+t", "g=u", "u+x-w", "ug+rw,o-rwx"})
        EXPECT_EQ(check_chmod(valid), std::nullopt) << valid;
}

TEST(ChmodTest, InvalidValues) {
    for (const char* invalid : {"", "10000", "0888", "8", "u", "u+x,", "u+q", "x+u", "+755", "a,"})
        EXPECT_NE(check_chmod(invalid), std::nullopt) << invalid;
    EXPECT_THAT(*check_chmod("0888"), HasSubstr("it should be octal string and between 0 and 07777"));
    EXPECT_THAT(*check_chmod("u+q"), HasSubstr("invalid chmod parameter: 'u+q'"));
}

TEST(ChmodTest, AppliesOctal) {
    EXPECT_EQ(apply_chmod("755", 0644, false), 0755u);
    EXPECT_EQ(apply_chmod("0600", 04777, true), 0600u);
}

TEST(ChmodTest, AppliesSymbolic) {
    struct Case {
        const char* chmod;
        std::uint32_t mode;
        bool directory;
        std::uint32_t expected;
    };
    for (const Case& c : std::vector<Case>{
             {"u+x", 0644, false, 0744},
             {"go-w", 0666, false, 0644},
             {"+x", 0644, false, 0755},
             {"o=", 0777, false, 0770},
             {"=", 04777, false, 0},
             {"u+s", 0755, false, 04755},
             {"+t", 0755, true, 01755},
             {"g=u", 0740, false, 0770},
             {"u+x,g+w", 0600, false, 0720},
             {"u=rwx,go=u-w", 0, false, 0755},
             {"a+X", 0644, false, 0644},  // not executable, not a directory
             {"a+X", 0744, false, 0755},
             {"a+X", 0700, true, 0711},
             // setmode(3) as BuildKit's Go port has it: `X` only counts with `+`.
             {"a=rX", 0755, true, 0444},
             {"u-x+w", 0500, false, 0600},
         })
        EXPECT_EQ(apply_chmod(c.chmod, c.mode, c.directory), c.expected)
            << c.chmod << " on " << std::oct << c.mode;
}

// --- RUN --mount ----------------------------------------------------------------------------

Mount mount(std::string_view spec) { return internal::parse_mount(spec, nullptr); }

std::string mount_error(std::string_view spec) {
    try {
        mount(spec);
    } catch (const InstructionError& e) {
        return e.what();
    }
    return "no error";
}

TEST(RunMountTest, DefaultsPerType) {
    const Mount bind = mount("target=/src");
    EXPECT_EQ(bind.type, MountType::bind);
    EXPECT_EQ(bind.target, "/src");
    EXPECT_TRUE(bind.read_only);
    EXPECT_FALSE(mount("type=cache,target=/c").read_only);
    EXPECT_FALSE(mount("type=tmpfs,target=/t").read_only);
    EXPECT_TRUE(mount("type=secret,id=tok").read_only);
    EXPECT_TRUE(mount("type=ssh").read_only);
    EXPECT_FALSE(mount("type=bind,target=/x,rw").read_only);
    EXPECT_TRUE(mount("type=cache,target=/x,ro").read_only);
    EXPECT_FALSE(mount("type=bind,target=/x,readonly=false").read_only);
    EXPECT_TRUE(mount("type=cache,target=/x,readwrite=0").read_only);
}

TEST(RunMountTest, EveryOption) {
    const Mount cache = mount("type=cache,dst=/root/.cache,from=base,src=/seed,id=pip,sharing=LOCKED,"
                              "mode=0750,uid=1000,gid=100");
    EXPECT_EQ(cache.type, MountType::cache);
    EXPECT_EQ(cache.target, "/root/.cache");
    EXPECT_EQ(cache.from, "base");
    EXPECT_EQ(cache.source, "/seed");
    EXPECT_EQ(cache.cache_id, "pip");
    EXPECT_EQ(cache.sharing, CacheSharing::locked);
    EXPECT_EQ(cache.mode, 0750u);
    EXPECT_EQ(cache.uid, 1000u);
    EXPECT_EQ(cache.gid, 100u);
    EXPECT_FALSE(cache.pending);

    const Mount secret = mount("type=secret,id=aws,destination=/run/aws,required,env=AWS_KEY");
    EXPECT_EQ(secret.type, MountType::secret);
    EXPECT_TRUE(secret.required);
    EXPECT_EQ(secret.env, "AWS_KEY");
    EXPECT_EQ(secret.target, "/run/aws");
    EXPECT_TRUE(mount("type=ssh,required=true").required);
    EXPECT_EQ(mount("type=tmpfs,target=/t,size=64m").size_limit, 64 * 1024 * 1024);
    EXPECT_EQ(mount("type=tmpfs,target=/t,size=1.5GiB").size_limit, 1610612736);
    EXPECT_EQ(mount("type=cache,target=/x,sharing=private").sharing, CacheSharing::private_);
    EXPECT_EQ(mount("TYPE=Cache,target=/x").type, MountType::cache);
    EXPECT_EQ(mount("type=bind,\"source=a,b\",target=/x").source, "a,b");
}

TEST(RunMountTest, InvalidOptions) {
    EXPECT_EQ(mount_error("type=volume"), "unsupported mount type \"volume\"");
    EXPECT_EQ(mount_error("type=cahce"), "unsupported mount type \"cahce\" (did you mean cache?)");
    EXPECT_EQ(mount_error("taget=/x"), "unexpected key 'taget' in 'taget=/x' (did you mean target?)");
    EXPECT_EQ(mount_error("target"), "invalid field 'target' must be a key=value pair");
    EXPECT_EQ(mount_error("type=cache,target=/x,sharing=all"), "unsupported sharing value \"all\"");
    EXPECT_EQ(mount_error("type=cache,target=/x,mode=0999"), "invalid value 0999 for mode");
    EXPECT_EQ(mount_error("type=cache,target=/x,uid=-1"), "invalid value -1 for uid");
    EXPECT_EQ(mount_error("type=bind,target=/x,ro=maybe"), "invalid value for ro: maybe");
    EXPECT_EQ(mount_error("type=bind,target=/x,required"), "unexpected key 'required' for mount type 'bind'");
    EXPECT_EQ(mount_error("type=cache,target=/x,size=1m"), "unexpected key 'size' for mount type 'cache'");
    EXPECT_EQ(mount_error("type=tmpfs,target=/x,size=lots"), "invalid value for size: lots");
    EXPECT_EQ(mount_error("type=bind,target=/x,mode=0755"), "mode not allowed for \"bind\" type mounts");
    EXPECT_EQ(mount_error("type=tmpfs,target=/x,uid=1"), "uid not allowed for \"tmpfs\" type mounts");
    EXPECT_EQ(mount_error("type=bind,target=/x,sharing=shared"), "invalid cache sharing set for bind mount");
    EXPECT_EQ(mount_error("type=secret,id=a,from=x"), "secret mount should not have a from");
    EXPECT_EQ(mount_error("type=secret"), "invalid secret mount. one of source, target required");
    EXPECT_EQ(mount_error("type=secret,id=a,source=b"), "both source and id can't be set");
    EXPECT_EQ(mount_error("type=bind,from=$STAGE"),
              "'from' doesn't support variable expansion, define alias stage instead");
    EXPECT_THAT(mount_error("type=bind,a\"b"), HasSubstr("bare \" in non-quoted-field"));
    EXPECT_THAT(mount_error("\"type=bind"), HasSubstr("extraneous or missing \" in quoted-field"));
}

TEST(RunMountTest, VariablesWaitForExpansion) {
    // `type=$T` cannot be checked yet: the mount is pending, with its literal strings kept.
    const Mount pending = mount("type=$T,target=$DIR,mode=$M");
    EXPECT_TRUE(pending.pending);
    EXPECT_EQ(pending.target, "$DIR");
    EXPECT_EQ(mount_error("type=$T,targte=/x"), "unexpected key 'targte' in 'targte=/x' (did you mean target?)");
    // A `$` at the very end cannot start a variable, so from= accepts it.
    EXPECT_EQ(mount("from=stage$,target=/x").from, "stage$");
}

TEST(RunMountTest, NetworkAndSecurity) {
    EXPECT_EQ(internal::parse_network("none"), NetworkMode::none);
    EXPECT_EQ(internal::parse_network("host"), NetworkMode::host);
    EXPECT_EQ(internal::parse_security("insecure"), SecurityMode::insecure);
    EXPECT_THROW(internal::parse_network("bridge"), InstructionError);
    EXPECT_THROW(internal::parse_security("privileged"), InstructionError);
}

// --- instructions ---------------------------------------------------------------------------

Node onbuild_node(Node trigger) {
    Node node = make_node("onbuild", {});
    node.original = "ONBUILD " + trigger.original;
    node.nested.push_back(std::move(trigger));
    return node;
}

TEST(InstructionsTest, FromWithPlatformAndName) {
    const auto from = parse_as<FromInstruction>(
        make_node("from", {"golang:1.22", "AS", "Build-Env.1"}, {"--platform=$BUILDPLATFORM"}));
    EXPECT_EQ(from.base_name, "golang:1.22");
    EXPECT_EQ(from.stage_name, "build-env.1");
    EXPECT_EQ(from.platform, "$BUILDPLATFORM");
    EXPECT_EQ(from.source.start_line, 7);
    EXPECT_EQ(from.source.end_line, 8);
    EXPECT_EQ(from.source.file, "Dockerfile");
    EXPECT_EQ(parse_as<FromInstruction>(make_node("from", {"scratch"})).stage_name, "");
    EXPECT_EQ(parse_as<FromInstruction>(make_node("from", {"a", "as", "b"})).stage_name, "b");
}

TEST(InstructionsTest, FromErrors) {
    EXPECT_EQ(error_message(make_node("from", {})), "FROM requires either one or three arguments");
    EXPECT_EQ(error_message(make_node("from", {"a", "AS"})), "FROM requires either one or three arguments");
    EXPECT_EQ(error_message(make_node("from", {"a", "to", "b"})), "FROM requires either one or three arguments");
    EXPECT_EQ(error_message(make_node("from", {"a", "AS", "1st"})),
              "invalid name for build stage: \"1st\", name can't start with a number or contain symbols");
    EXPECT_THAT(error_message(make_node("from", {"a", "AS", "b@c"})), HasSubstr("invalid name"));
    EXPECT_EQ(error_message(make_node("from", {"a"}, {"--platform"})), "missing a value on flag: --platform");
}

TEST(InstructionsTest, RunShellFormWithFlags) {
    Node node = make_node("run", {"make -j4 && make install"},
                          {"--mount=type=cache,target=/root/.cache", "--mount=type=secret,id=npm",
                           "--network=none", "--security=insecure"});
    const auto run = parse_as<RunInstruction>(node);
    EXPECT_THAT(run.command.arguments, ElementsAre("make -j4 && make install"));
    EXPECT_TRUE(run.command.prepend_shell);
    ASSERT_EQ(run.mounts.size(), 2u);
    EXPECT_EQ(run.mounts[0].type, MountType::cache);
    EXPECT_EQ(run.mounts[1].cache_id, "npm");
    EXPECT_THAT(run.mount_specs, ElementsAre("type=cache,target=/root/.cache", "type=secret,id=npm"));
    EXPECT_EQ(run.network, NetworkMode::none);
    EXPECT_EQ(run.security, SecurityMode::insecure);
}

TEST(InstructionsTest, RunExecFormAndDefaults) {
    const auto run = parse_as<RunInstruction>(make_node("run", {"echo", "a b"}, {}, true));
    EXPECT_THAT(run.command.arguments, ElementsAre("echo", "a b"));
    EXPECT_FALSE(run.command.prepend_shell);
    EXPECT_EQ(run.network, NetworkMode::default_);
    EXPECT_EQ(run.security, SecurityMode::sandbox);
    EXPECT_TRUE(run.mounts.empty());
}

TEST(InstructionsTest, RunKeepsHeredocs) {
    Node node = make_node("run", {"<<-EOF bash"});
    node.heredocs.push_back({"EOF", "\techo hi\n", 0, true, true});
    const auto run = parse_as<RunInstruction>(node);
    ASSERT_EQ(run.heredocs.size(), 1u);
    EXPECT_EQ(run.heredocs[0].name, "EOF");
    EXPECT_EQ(run.heredocs[0].data, "\techo hi\n");
    EXPECT_TRUE(run.heredocs[0].chomp);
    EXPECT_EQ(run.heredocs[0].content(), "echo hi\n");
}

TEST(InstructionsTest, RunFlagErrorsPointAtTheFlag) {
    const ParseError unknown = parse_error(make_node("run", {"true"}, {"--mout=type=bind"}));
    EXPECT_EQ(unknown.message(), "unknown flag: --mout (did you mean mount?)");
    EXPECT_EQ(unknown.line(), 7);
    EXPECT_EQ(unknown.column(), 5);
    EXPECT_EQ(unknown.source_line(), "RUN --mout=type=bind true");
    EXPECT_EQ(std::string(unknown.what()), "Dockerfile:7: unknown flag: --mout (did you mean mount?)");
    EXPECT_EQ(error_message(make_node("run", {"x"}, {"--network=bridge"})), "invalid network mode \"bridge\"");
    EXPECT_EQ(error_message(make_node("run", {"x"}, {"--security=root"})), "security \"root\" is not valid");
    const ParseError bad_mount = parse_error(make_node("run", {"x"}, {"--mount=type=cache,target=/x,uid=x"}));
    EXPECT_EQ(bad_mount.message(), "invalid value x for uid");
    EXPECT_EQ(bad_mount.column(), 34);  // the `uid=x` field
}

TEST(InstructionsTest, CmdAndEntrypoint) {
    const auto cmd = parse_as<CmdInstruction>(make_node("cmd", {"nginx", "-g", "daemon off;"}, {}, true));
    EXPECT_THAT(cmd.command.arguments, ElementsAre("nginx", "-g", "daemon off;"));
    EXPECT_FALSE(cmd.command.prepend_shell);
    EXPECT_TRUE(parse_as<CmdInstruction>(make_node("cmd", {}, {}, true)).command.arguments.empty());
    const auto entrypoint = parse_as<EntrypointInstruction>(make_node("entrypoint", {"exec app --x"}));
    EXPECT_THAT(entrypoint.command.arguments, ElementsAre("exec app --x"));
    EXPECT_TRUE(entrypoint.command.prepend_shell);
    EXPECT_EQ(error_message(make_node("cmd", {"a"}, {"--doit"})), "unknown flag: --doit");
}

TEST(InstructionsTest, LabelAndEnvBothForms) {
    const auto env = parse_as<EnvInstruction>(make_node("env", {"A", "1", "=", "B", "x y", ""}));
    ASSERT_EQ(env.variables.size(), 2u);
    EXPECT_EQ(env.variables[0].key, "A");
    EXPECT_EQ(env.variables[0].value, "1");
    EXPECT_FALSE(env.variables[0].legacy);
    EXPECT_EQ(env.variables[1].value, "x y");
    EXPECT_TRUE(env.variables[1].legacy);
    const auto label = parse_as<LabelInstruction>(make_node("label", {"org.title", "\"a b\"", "="}));
    EXPECT_EQ(label.labels[0].value, "\"a b\"");  // quotes go at expansion
    EXPECT_EQ(error_message(make_node("env", {})), "ENV requires at least one argument");
    EXPECT_EQ(error_message(make_node("label", {"", "v", "="})), "LABEL names can not be blank");
    EXPECT_EQ(error_message(make_node("env", {"a", "b"})), "Bad input to ENV, too many arguments");
}

TEST(InstructionsTest, ExactlyOneArgument) {
    for (const char* keyword : {"maintainer", "workdir", "user", "stopsignal"}) {
        EXPECT_EQ(error_message(make_node(keyword, {})), upper(keyword) + " requires exactly one argument");
    }
    EXPECT_EQ(parse_as<MaintainerInstruction>(make_node("maintainer", {"Jo <jo@x>"})).maintainer, "Jo <jo@x>");
    EXPECT_EQ(parse_as<WorkdirInstruction>(make_node("workdir", {"/app"})).path, "/app");
    EXPECT_EQ(parse_as<UserInstruction>(make_node("user", {"1000:1000"})).user, "1000:1000");
    EXPECT_EQ(parse_as<StopsignalInstruction>(make_node("stopsignal", {"SIGQUIT"})).signal, "SIGQUIT");
}

TEST(InstructionsTest, AtLeastOneArgument) {
    for (const char* keyword : {"expose", "volume", "healthcheck", "onbuild", "arg"})
        EXPECT_EQ(error_message(make_node(keyword, {})), upper(keyword) + " requires at least one argument");
    EXPECT_THAT(parse_as<ExposeInstruction>(make_node("expose", {"80/tcp", "$P"})).ports, ElementsAre("80/tcp", "$P"));
}

TEST(InstructionsTest, Volume) {
    EXPECT_THAT(parse_as<VolumeInstruction>(make_node("volume", {"/a", " /b "}, {}, true)).volumes,
                ElementsAre("/a", "/b"));
    EXPECT_EQ(error_message(make_node("volume", {"/a", " "}, {}, true)), "VOLUME specified can not be an empty string");
}

TEST(InstructionsTest, ArgSeveralWithAndWithoutDefaults) {
    const auto arg = parse_as<ArgInstruction>(make_node("arg", {"VERSION=1.2", "DEBUG", "Q=\"a b\"", "E="}));
    ASSERT_EQ(arg.args.size(), 4u);
    EXPECT_EQ(arg.args[0].key, "VERSION");
    EXPECT_EQ(arg.args[0].value, "1.2");
    EXPECT_EQ(arg.args[1].value, std::nullopt);
    EXPECT_EQ(arg.args[2].value, "\"a b\"");
    EXPECT_EQ(arg.args[3].value, "");
    EXPECT_EQ(error_message(make_node("arg", {"=x"})), "ARG names can not be blank");
    EXPECT_EQ(error_message(make_node("arg", {"A"}, {"--required"})), "unknown flag: --required");
}

TEST(InstructionsTest, CopyWithEveryFlag) {
    const auto copy = parse_as<CopyInstruction>(
        make_node("copy", {"a", "b/", "/dst/"},
                  {"--from=build", "--chown=1:2", "--chmod=u+x", "--link", "--parents", "--exclude=*.md",
                   "--exclude=.git"}));
    EXPECT_THAT(copy.files.source_paths, ElementsAre("a", "b/"));
    EXPECT_EQ(copy.files.dest, "/dst/");
    EXPECT_EQ(copy.from, "build");
    EXPECT_EQ(copy.chown, "1:2");
    EXPECT_EQ(copy.chmod, "u+x");
    EXPECT_TRUE(copy.link);
    EXPECT_TRUE(copy.parents);
    EXPECT_THAT(copy.excludes, ElementsAre("*.md", ".git"));
}

TEST(InstructionsTest, AddWithEveryFlag) {
    const auto add = parse_as<AddInstruction>(
        make_node("add", {"https://x/a.tgz", "/opt/"},
                  {"--chown=app", "--chmod=0755", "--link=false", "--keep-git-dir", "--checksum=sha256:ab",
                   "--exclude=x", "--unpack=false"}));
    EXPECT_EQ(add.chown, "app");
    EXPECT_EQ(add.chmod, "0755");
    EXPECT_FALSE(add.link);
    EXPECT_TRUE(add.keep_git_dir);
    EXPECT_EQ(add.checksum, "sha256:ab");
    EXPECT_THAT(add.excludes, ElementsAre("x"));
    EXPECT_EQ(add.unpack, false);
    EXPECT_EQ(parse_as<AddInstruction>(make_node("add", {"a", "b"})).unpack, std::nullopt);
    EXPECT_EQ(error_message(make_node("add", {"a", "b"}, {"--from=x"})), "unknown flag: --from");
    EXPECT_EQ(error_message(make_node("copy", {"a", "b"}, {"--checksum=x"})), "unknown flag: --checksum");
}

TEST(InstructionsTest, CopyAndAddErrors) {
    EXPECT_EQ(error_message(make_node("copy", {"only"})),
              "COPY requires at least two arguments, but only one was provided. Destination could not be "
              "determined.");
    EXPECT_THAT(error_message(make_node("add", {})), HasSubstr("ADD requires at least two arguments"));
    const ParseError chmod = parse_error(make_node("copy", {"a", "b"}, {"--chmod=999"}));
    EXPECT_THAT(chmod.message(), HasSubstr("invalid chmod parameter: '999'"));
    EXPECT_EQ(chmod.column(), 6);
    // A chmod with a variable is checked after expansion instead.
    EXPECT_EQ(parse_as<CopyInstruction>(make_node("copy", {"a", "b"}, {"--chmod=$MODE"})).chmod, "$MODE");
    EXPECT_EQ(error_message(make_node("copy", {"a", "<<EOF"})), "COPY cannot accept a heredoc as a destination");
}

TEST(InstructionsTest, CopyHeredocsBecomeInlineFiles) {
    Node node = make_node("copy", {"<<one.sh", "<<-\"two\"", "plain", "/dst/"});
    node.heredocs.push_back({"one.sh", "echo $A\n", 0, true, false});
    node.heredocs.push_back({"two", "\tquiet\n", 0, false, true});
    const auto copy = parse_as<CopyInstruction>(node);
    EXPECT_THAT(copy.files.source_paths, ElementsAre("plain"));
    ASSERT_EQ(copy.files.source_contents.size(), 2u);
    EXPECT_EQ(copy.files.source_contents[0].name, "one.sh");
    EXPECT_TRUE(copy.files.source_contents[0].expand);
    EXPECT_EQ(copy.files.source_contents[1].name, "two");
    EXPECT_FALSE(copy.files.source_contents[1].expand);
    EXPECT_EQ(copy.files.source_contents[1].content(), "quiet\n");  // chomped when used
    EXPECT_EQ(copy.files.source_contents[1].data, "\tquiet\n");
}

TEST(InstructionsTest, Healthcheck) {
    const auto shell_form = parse_as<HealthcheckInstruction>(make_node(
        "healthcheck", {"CMD", "curl -f http://localhost/"},
        {"--interval=30s", "--timeout=1m30s", "--start-period=1.5h", "--start-interval=0", "--retries=3"}));
    EXPECT_THAT(shell_form.test, ElementsAre("CMD-SHELL", "curl -f http://localhost/"));
    EXPECT_EQ(shell_form.interval, 30s);
    EXPECT_EQ(shell_form.timeout, 90s);
    EXPECT_EQ(shell_form.start_period, 90min);
    EXPECT_EQ(shell_form.start_interval, 0s);
    EXPECT_EQ(shell_form.retries, 3);
    EXPECT_THAT(parse_as<HealthcheckInstruction>(make_node("healthcheck", {"cmd", "a", "b"}, {}, true)).test,
                ElementsAre("CMD", "a", "b"));
    EXPECT_THAT(parse_as<HealthcheckInstruction>(make_node("healthcheck", {"NONE"})).test, ElementsAre("NONE"));
}

TEST(InstructionsTest, HealthcheckErrors) {
    const auto error = [](std::vector<std::string> args, std::vector<std::string> flags = {}) {
        return error_message(make_node("healthcheck", std::move(args), std::move(flags)));
    };
    EXPECT_EQ(error({"NONE", "x"}), "HEALTHCHECK NONE takes no arguments");
    EXPECT_EQ(error({"CMD"}), "Missing command after HEALTHCHECK CMD");
    EXPECT_EQ(error({"CONNECT", "x"}), "Unknown type \"CONNECT\" in HEALTHCHECK (try CMD)");
    EXPECT_EQ(error({"CMD", "x"}, {"--interval=10"}), "time: missing unit in duration \"10\"");
    EXPECT_EQ(error({"CMD", "x"}, {"--timeout=500us"}), "Interval \"timeout\" cannot be less than 1ms");
    EXPECT_EQ(error({"CMD", "x"}, {"--interval=-1s"}), "Interval \"interval\" cannot be less than 1ms");
    EXPECT_EQ(error({"CMD", "x"}, {"--retries=-1"}), "--retries cannot be negative (-1)");
    EXPECT_EQ(error({"CMD", "x"}, {"--retries=two"}), "strconv.ParseInt: parsing \"two\": invalid syntax");
    EXPECT_EQ(error({"CMD", "x"}, {"--retries=9999999999"}),
              "strconv.ParseInt: parsing \"9999999999\": value out of range");
    EXPECT_EQ(error({"CMD", "x"}, {"--start-periods=1s"}), "unknown flag: --start-periods (did you mean start-period?)");
}

TEST(InstructionsTest, ShellRequiresJson) {
    EXPECT_THAT(parse_as<ShellInstruction>(make_node("shell", {"/bin/bash", "-c"}, {}, true)).shell,
                ElementsAre("/bin/bash", "-c"));
    EXPECT_EQ(error_message(make_node("shell", {"/bin/bash -c"})), "SHELL requires the arguments to be in JSON form");
    EXPECT_EQ(error_message(make_node("shell", {}, {}, true)), "SHELL requires at least one argument");
}

TEST(InstructionsTest, OnbuildKeepsExpressionAndParsedTrigger) {
    Node node = onbuild_node(make_node("run", {"cat <<EOF"}));
    node.heredocs.push_back({"EOF", "body\n", 0, true, false});
    const auto onbuild = parse_as<OnbuildInstruction>(node);
    EXPECT_EQ(onbuild.expression, "RUN cat <<EOF\nbody\nEOF");
    ASSERT_NE(onbuild.trigger, nullptr);
    ASSERT_TRUE(std::holds_alternative<RunInstruction>(*onbuild.trigger));
    EXPECT_EQ(std::get<RunInstruction>(*onbuild.trigger).heredocs.size(), 1u);
}

TEST(InstructionsTest, OnbuildForbiddenTriggers) {
    EXPECT_EQ(error_message(onbuild_node(make_node("onbuild", {}))),
              "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    EXPECT_EQ(error_message(onbuild_node(make_node("from", {"x"}))), "FROM isn't allowed as an ONBUILD trigger");
    EXPECT_EQ(error_message(onbuild_node(make_node("maintainer", {"me"}))),
              "MAINTAINER isn't allowed as an ONBUILD trigger");
    const ParseError nested = parse_error(onbuild_node(make_node("copy", {"one"})));
    EXPECT_THAT(nested.message(), HasSubstr("COPY requires at least two arguments"));
    EXPECT_EQ(nested.line(), 7);  // reported at the ONBUILD line
}

TEST(InstructionsTest, UnknownInstruction) {
    const ParseError error = parse_error(make_node("foo", {""}));
    EXPECT_EQ(error.message(), "unknown instruction: FOO");
    EXPECT_EQ(error.column(), 1);
    EXPECT_EQ(error_message(make_node("form", {""})), "unknown instruction: FORM (did you mean from?)");
}

TEST(InstructionsTest, EveryKeywordHasItsName) {
    const std::vector<Node> nodes = {
        make_node("from", {"a"}),          make_node("run", {"x"}),
        make_node("cmd", {"x"}),           make_node("entrypoint", {"x"}),
        make_node("label", {"a", "b", "="}), make_node("maintainer", {"m"}),
        make_node("expose", {"1"}),        make_node("env", {"a", "b", "="}),
        make_node("add", {"a", "b"}),      make_node("copy", {"a", "b"}),
        make_node("volume", {"/v"}),       make_node("user", {"u"}),
        make_node("workdir", {"/w"}),      make_node("arg", {"a"}),
        onbuild_node(make_node("run", {"x"})), make_node("stopsignal", {"9"}),
        make_node("healthcheck", {"NONE"}), make_node("shell", {"sh"}, {}, true)};
    ASSERT_EQ(nodes.size(), std::variant_size_v<InstructionVariant>);
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        const Instruction instruction = parse_instruction(nodes[i], "Dockerfile");
        EXPECT_EQ(instruction.index(), i) << nodes[i].keyword;
        EXPECT_EQ(instruction_name(instruction), upper(nodes[i].keyword));
    }
}

TEST(InstructionsTest, NamesAndSources) {
    const Instruction instruction = parse_instruction(make_node("stopsignal", {"9"}), "x/Dockerfile");
    EXPECT_EQ(instruction_name(instruction), "STOPSIGNAL");
    EXPECT_EQ(source_of(instruction).file, "x/Dockerfile");
    EXPECT_EQ(source_of(instruction).original, "STOPSIGNAL 9");
}

// --- expansion ------------------------------------------------------------------------------

template <typename T>
T expanded(const Node& node, UppercaseExpander& expander) {
    return std::get<T>(expand_instruction(parse_instruction(node, "Dockerfile"), expander));
}

TEST(ExpandTest, FromExpandsBaseAndPlatformNotName) {
    UppercaseExpander expander;
    const auto from = expanded<FromInstruction>(make_node("from", {"img", "AS", "x"}, {"--platform=p"}), expander);
    EXPECT_EQ(from.base_name, "IMG");
    EXPECT_EQ(from.platform, "P");
    EXPECT_EQ(from.stage_name, "x");
}

TEST(ExpandTest, CopyAndAddFields) {
    UppercaseExpander expander;
    Node copy_node = make_node("copy", {"src", "<<eof", "/dst"},
                               {"--from=st", "--chown=u", "--chmod=755", "--exclude=e", "--link"});
    copy_node.heredocs.push_back({"eof", "body $x\n", 0, true, false});
    const auto copy = expanded<CopyInstruction>(copy_node, expander);
    EXPECT_THAT(copy.files.source_paths, ElementsAre("SRC"));
    EXPECT_EQ(copy.files.dest, "/DST");
    EXPECT_EQ(copy.from, "ST");
    EXPECT_EQ(copy.chown, "U");
    EXPECT_EQ(copy.chmod, "755");
    EXPECT_THAT(copy.excludes, ElementsAre("E"));
    EXPECT_EQ(copy.files.source_contents[0].data, "body $x\n");  // bodies: at use time

    const auto add = expanded<AddInstruction>(
        make_node("add", {"s", "d"}, {"--checksum=sha256:c", "--chown=o", "--chmod=755"}), expander);
    EXPECT_EQ(add.checksum, "SHA256:C");
    EXPECT_EQ(add.chown, "O");
    EXPECT_THAT(add.files.source_paths, ElementsAre("S"));
}

TEST(ExpandTest, KeyValueInstructions) {
    UppercaseExpander expander;
    const auto env = expanded<EnvInstruction>(make_node("env", {"k", "v", "="}), expander);
    EXPECT_EQ(env.variables[0].key, "K");
    EXPECT_EQ(env.variables[0].value, "V");
    const auto label = expanded<LabelInstruction>(make_node("label", {"k", "v w", ""}), expander);
    EXPECT_EQ(label.labels[0].value, "V W");
    EXPECT_TRUE(label.labels[0].legacy);
    const auto arg = expanded<ArgInstruction>(make_node("arg", {"a=b", "c"}), expander);
    EXPECT_EQ(arg.args[0].key, "A");
    EXPECT_EQ(arg.args[0].value, "B");
    EXPECT_EQ(arg.args[1].value, std::nullopt);
}

TEST(ExpandTest, SingleWordInstructions) {
    UppercaseExpander expander;
    EXPECT_EQ(expanded<UserInstruction>(make_node("user", {"app"}), expander).user, "APP");
    EXPECT_EQ(expanded<WorkdirInstruction>(make_node("workdir", {"/w"}), expander).path, "/W");
    EXPECT_EQ(expanded<StopsignalInstruction>(make_node("stopsignal", {"sigterm"}), expander).signal, "SIGTERM");
    EXPECT_THAT(expanded<VolumeInstruction>(make_node("volume", {"/v"}), expander).volumes, ElementsAre("/V"));
    EXPECT_THAT(expanded<ExposeInstruction>(make_node("expose", {"80 443/tcp", "p"}), expander).ports,
                ElementsAre("80", "443/TCP", "P"));
}

TEST(ExpandTest, CommandsAreNotExpanded) {
    UppercaseExpander expander;
    EXPECT_THAT(expanded<RunInstruction>(make_node("run", {"echo $x"}), expander).command.arguments,
                ElementsAre("echo $x"));
    EXPECT_THAT(expanded<CmdInstruction>(make_node("cmd", {"c"}), expander).command.arguments, ElementsAre("c"));
    EXPECT_THAT(expanded<EntrypointInstruction>(make_node("entrypoint", {"e"}), expander).command.arguments,
                ElementsAre("e"));
    EXPECT_THAT(expanded<ShellInstruction>(make_node("shell", {"sh"}, {}, true), expander).shell, ElementsAre("sh"));
    EXPECT_EQ(expanded<MaintainerInstruction>(make_node("maintainer", {"me"}), expander).maintainer, "me");
    EXPECT_THAT(expanded<HealthcheckInstruction>(make_node("healthcheck", {"CMD", "c"}), expander).test,
                ElementsAre("CMD-SHELL", "c"));
    EXPECT_EQ(expanded<OnbuildInstruction>(onbuild_node(make_node("run", {"x"})), expander).expression, "RUN x");
    EXPECT_EQ(expander.calls, 0);
}

TEST(ExpandTest, RunMountValuesAreExpanded) {
    UppercaseExpander expander;
    const auto run = expanded<RunInstruction>(
        make_node("run", {"x"}, {"--mount=type=cache,target=/c,id=$ID", "--network=none"}), expander);
    ASSERT_EQ(run.mounts.size(), 1u);
    EXPECT_EQ(run.mounts[0].type, MountType::cache);  // `CACHE` is accepted case-insensitively
    EXPECT_EQ(run.mounts[0].target, "/C");
    EXPECT_EQ(run.mounts[0].cache_id, "$ID");
    EXPECT_FALSE(run.mounts[0].pending);
    EXPECT_EQ(run.network, NetworkMode::none);
}

// Expands `$NAME` from a fixed table, so values can turn invalid once expanded.
class TableExpander : public WordExpander {
public:
    std::string word(std::string_view text) override {
        if (text == "$MODE") return "0999";
        if (text == "$EMPTY") return "";
        if (text == "$T") return "cache";
        if (text == "$BAD") throw ExpandErrorForTest();
        if (text == "${") throw ExpandError("bad substitution");
        return std::string(text);
    }
    std::vector<std::string> words(std::string_view text) override { return {word(text)}; }
    struct ExpandErrorForTest : std::runtime_error {
        ExpandErrorForTest() : std::runtime_error("bad") {}
    };
};

TEST(ExpandTest, ValuesInvalidAfterExpansionAreLocatedErrors) {
    TableExpander expander;
    const auto expect_error = [&](const Node& node, const std::string& message) {
        const Instruction instruction = parse_instruction(node, "Dockerfile");
        try {
            expand_instruction(instruction, expander);
            ADD_FAILURE() << "no error for " << node.original;
        } catch (const ParseError& error) {
            EXPECT_THAT(error.message(), HasSubstr(message));
            EXPECT_EQ(error.line(), 7);
            EXPECT_EQ(error.file(), "Dockerfile");
        }
    };
    expect_error(make_node("copy", {"a", "b"}, {"--chmod=$MODE"}), "invalid chmod parameter: '0999'");
    expect_error(make_node("from", {"$EMPTY"}), "base name ($EMPTY) should not be blank");
    expect_error(make_node("volume", {"$EMPTY"}), "VOLUME specified can not be an empty string");
    expect_error(make_node("run", {"x"}, {"--mount=type=$T,target=/x,size=1m"}),
                 "unexpected key 'size' for mount type 'cache'");
    expect_error(make_node("workdir", {"${"}), "bad substitution");
    // Other exceptions from the expander pass through untouched.
    EXPECT_THROW(expand_instruction(parse_instruction(make_node("user", {"$BAD"}), "Dockerfile"), expander),
                 TableExpander::ExpandErrorForTest);
}

}  // namespace
}  // namespace cbuild::parser
