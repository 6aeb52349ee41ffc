#pragma once
// Typed Dockerfile instructions (BuildKit's frontend/dockerfile/instructions): one value type per
// keyword with its flags checked and its arguments in place, plus the expansion hook that says
// which fields take $VARIABLES. Values are immutable in spirit: expand() returns a new one.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "parser/ast.h"

namespace cbuild::parser {

// Expands words with the variables in scope (ARG/ENV of the stage, or the meta ARGs for FROM).
// The planner implements it over ShellLex; tests use fakes. Either method may throw
// ExpandError, which expand() reports as a ParseError at the instruction's line.
class WordExpander {
public:
    virtual ~WordExpander() = default;
    // One word in, one word out: quotes processed, no splitting (ShellLex::process_word).
    virtual std::string word(std::string_view text) = 0;
    // Expansion with word splitting (ShellLex::process_words), for EXPOSE.
    virtual std::vector<std::string> words(std::string_view text) = 0;
};

// Where an instruction came from. `original` is the logical line as written (continuations
// joined); lines are 1-based physical lines, inclusive, heredoc bodies included.
struct SourceSpan {
    std::string file;
    std::string original;
    int start_line = 0;
    int end_line = 0;
};

// A heredoc body. For RUN it is a file the shell sees; for COPY/ADD it is an inline source file
// named `name`. `data` is raw; content() applies `<<-` chomping (leading tabs of every line).
// When `expand` is true (unquoted name), the planner expands COPY/ADD bodies at use time, after
// chomping, in raw-quote mode; expand() below never touches bodies, and RUN bodies are left to
// the shell.
struct InlineFile {
    std::string name;
    std::string data;
    bool chomp = false;
    bool expand = true;
    int file_descriptor = 0;

    std::string content() const;
};

// ENV and LABEL entries. `legacy` is the `ENV key value` form (no `=`), which BuildKit lints.
struct KeyValue {
    std::string key;
    std::string value;
    bool legacy = false;
};

// One ARG name with its optional default, quotes unprocessed until expansion (`a="x y"` keeps
// `"x y"`).
struct ArgDefinition {
    std::string key;
    std::optional<std::string> value;
};

// RUN/CMD/ENTRYPOINT: the exec form (JSON array, run as is) or the shell form (one string,
// run with the stage's SHELL prepended).
struct CommandLine {
    std::vector<std::string> arguments;
    bool prepend_shell = false;  // true for the shell form
};

// --- RUN --mount / --network / --security -------------------------------------------------

enum class MountType { bind, cache, tmpfs, secret, ssh };
enum class CacheSharing { shared, private_, locked };  // `private` is a keyword
enum class NetworkMode { default_, none, host };       // `default` is a keyword
enum class SecurityMode { sandbox, insecure };

// One `--mount=type=...,target=...` as upstream's parseMount leaves it, defaults applied:
// bind unless `type=` says otherwise; read-only for bind/secret/ssh, read-write for
// cache/tmpfs unless ro/rw says otherwise. A mount whose text holds `$` cannot be interpreted
// before expansion: it is `pending` (only its raw string fields are kept) until
// RunInstruction::expand() parses it again.
struct Mount {
    MountType type = MountType::bind;
    std::string from;
    std::string source;
    std::string target;
    bool read_only = true;
    std::int64_t size_limit = 0;  // tmpfs `size=`, bytes; 0 = unlimited
    std::string cache_id;         // `id=`
    std::optional<CacheSharing> sharing;
    bool required = false;             // secret/ssh
    std::optional<std::string> env;    // secret: expose as this environment variable
    std::optional<std::uint32_t> mode;  // cache/secret/ssh
    std::optional<std::uint32_t> uid;
    std::optional<std::uint32_t> gid;
    bool pending = false;
};

// --- the eighteen instructions ------------------------------------------------------------
// Each expand() returns a copy with the fields BuildKit expands replaced, and throws ParseError
// (at the instruction's line) for an expansion error or a value that is invalid once expanded.

struct FromInstruction {
    SourceSpan source;
    std::string base_name;   // image reference or stage name, as written
    std::string stage_name;  // `AS name`, lowercased; empty when unnamed
    std::string platform;    // --platform, as written
    // base_name and platform, with the meta ARGs only (the planner's expander). An empty base
    // name after expansion is an error.
    FromInstruction expand(WordExpander& expander) const;
};

struct RunInstruction {
    SourceSpan source;
    CommandLine command;
    std::vector<InlineFile> heredocs;      // kept for execution, in the order written
    std::vector<std::string> mount_specs;  // each --mount value as written
    std::vector<Mount> mounts;             // parsed from mount_specs, same order
    NetworkMode network = NetworkMode::default_;
    SecurityMode security = SecurityMode::sandbox;
    // Re-parses every mount with its values expanded; the command is never expanded (the
    // shell does that).
    RunInstruction expand(WordExpander& expander) const;
};

struct CmdInstruction {
    SourceSpan source;
    CommandLine command;  // `CMD []` gives an empty exec-form list
    CmdInstruction expand(WordExpander& expander) const;  // unchanged
};

struct EntrypointInstruction {
    SourceSpan source;
    CommandLine command;  // `ENTRYPOINT []` gives an empty list: the image's entrypoint is null
    EntrypointInstruction expand(WordExpander& expander) const;  // unchanged
};

struct LabelInstruction {
    SourceSpan source;
    std::vector<KeyValue> labels;
    LabelInstruction expand(WordExpander& expander) const;  // keys and values
};

struct MaintainerInstruction {
    SourceSpan source;
    std::string maintainer;
    MaintainerInstruction expand(WordExpander& expander) const;  // unchanged
};

struct ExposeInstruction {
    SourceSpan source;
    std::vector<std::string> ports;  // as written: `80/tcp`, `$PORT`
    // Each entry expanded with word splitting, so `EXPOSE $PORTS` may give several ports.
    ExposeInstruction expand(WordExpander& expander) const;
};

struct EnvInstruction {
    SourceSpan source;
    std::vector<KeyValue> variables;
    EnvInstruction expand(WordExpander& expander) const;  // keys and values
};

// COPY/ADD sources: paths (context, stage or URL) and heredoc inline files, then the
// destination.
struct SourcesAndDest {
    std::vector<std::string> source_paths;
    std::vector<InlineFile> source_contents;
    std::string dest;
};

struct AddInstruction {
    SourceSpan source;
    SourcesAndDest files;
    std::string chown;
    std::string chmod;   // octal or symbolic, validated when it holds no `$`
    bool link = false;
    bool keep_git_dir = false;
    std::string checksum;
    std::vector<std::string> excludes;
    std::optional<bool> unpack;  // --unpack given or not
    // source paths, dest, chown, chmod (validated again), checksum, excludes.
    AddInstruction expand(WordExpander& expander) const;
};

struct CopyInstruction {
    SourceSpan source;
    SourcesAndDest files;
    std::string from;    // --from: stage name, stage index or image
    std::string chown;
    std::string chmod;
    bool link = false;
    bool parents = false;
    std::vector<std::string> excludes;
    // source paths, dest, chown, chmod (validated again), from, excludes.
    CopyInstruction expand(WordExpander& expander) const;
};

struct VolumeInstruction {
    SourceSpan source;
    std::vector<std::string> volumes;
    VolumeInstruction expand(WordExpander& expander) const;  // each; empty result is an error
};

struct UserInstruction {
    SourceSpan source;
    std::string user;
    UserInstruction expand(WordExpander& expander) const;
};

struct WorkdirInstruction {
    SourceSpan source;
    std::string path;
    WorkdirInstruction expand(WordExpander& expander) const;
};

struct ArgInstruction {
    SourceSpan source;
    std::vector<ArgDefinition> args;
    ArgInstruction expand(WordExpander& expander) const;  // names and default values
};

struct Instruction;

// The trigger is stored twice: `expression` is what goes into the image config (the text
// after ONBUILD, heredoc bodies appended as BuildKit does), `trigger` is it parsed.
struct OnbuildInstruction {
    SourceSpan source;
    std::string expression;
    std::shared_ptr<const Instruction> trigger;
    OnbuildInstruction expand(WordExpander& expander) const;  // unchanged
};

struct StopsignalInstruction {
    SourceSpan source;
    std::string signal;
    StopsignalInstruction expand(WordExpander& expander) const;
};

// `test` is what the image config stores: {"NONE"}, {"CMD", args...} for the exec form or
// {"CMD-SHELL", "command"}. Durations of zero mean "the runtime's default".
struct HealthcheckInstruction {
    SourceSpan source;
    std::vector<std::string> test;
    std::chrono::nanoseconds interval{0};
    std::chrono::nanoseconds timeout{0};
    std::chrono::nanoseconds start_period{0};
    std::chrono::nanoseconds start_interval{0};
    int retries = 0;
    HealthcheckInstruction expand(WordExpander& expander) const;  // unchanged
};

struct ShellInstruction {
    SourceSpan source;
    std::vector<std::string> shell;
    ShellInstruction expand(WordExpander& expander) const;  // unchanged
};

using InstructionVariant =
    std::variant<FromInstruction, RunInstruction, CmdInstruction, EntrypointInstruction,
                 LabelInstruction, MaintainerInstruction, ExposeInstruction, EnvInstruction,
                 AddInstruction, CopyInstruction, VolumeInstruction, UserInstruction,
                 WorkdirInstruction, ArgInstruction, OnbuildInstruction, StopsignalInstruction,
                 HealthcheckInstruction, ShellInstruction>;

// Any instruction. A struct (not an alias) so that ONBUILD can hold one; std::get,
// std::holds_alternative and std::visit work on it as on the variant.
struct Instruction : InstructionVariant {
    using InstructionVariant::InstructionVariant;
    using InstructionVariant::operator=;
};

// Converts one syntax-tree node into its instruction, checking flags and arguments as BuildKit
// does. Throws ParseError "FILE:LINE: message" (with the node's first line as source line, and
// a column where one is known) for an unknown keyword ("unknown instruction: FOO"), an unknown
// or malformed flag, a missing or extra argument, or an invalid value. `file_name` names the
// file in errors and in every SourceSpan.
Instruction parse_instruction(const Node& node, const std::string& file_name);

// The expanded copy of any instruction (dispatches to its expand()).
Instruction expand_instruction(const Instruction& instruction, WordExpander& expander);

// The keyword, upper-case: "RUN", "COPY".
std::string_view instruction_name(const Instruction& instruction);

// Where any instruction came from.
const SourceSpan& source_of(const Instruction& instruction);

// A --chmod value checked: octal up to 07777 (`755`, `0644`) or symbolic as chmod(1)
// (`u+x`, `go-w`, `a=rX`, `u=rwx,go=u-w`). Returns an error message, or nullopt when valid.
std::optional<std::string> check_chmod(std::string_view chmod);

// The mode `chmod` gives a file whose current mode is `mode` (permission, setuid, setgid and
// sticky bits); `is_directory` matters for `X`. `chmod` must have passed check_chmod.
std::uint32_t apply_chmod(std::string_view chmod, std::uint32_t mode, bool is_directory);

}  // namespace cbuild::parser
