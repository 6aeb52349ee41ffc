#pragma once
// The values of `build` flags that docker buildx validates on the client: --build-arg-file,
// --label, --build-context, --add-host, --network, --shm-size and --ulimit. Each parser throws
// cbuild::UsageError (exit 2) naming the flag and the value.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "builder/plan/plan.h"
#include "builder/sandbox/sandbox.h"
#include "cache/content_store.h"
#include "parser/instructions.h"

namespace cbuild::cli {

// The KEY=VALUE lines of a --build-arg-file (`file` names it in errors): blank lines and lines
// starting with `#` are skipped, a bare KEY takes its value from the environment (and is dropped
// when unset there), the value is everything after the first `=`, verbatim. Throws UsageError
// naming `file:line` for an empty or blank-containing name.
std::map<std::string, std::string> parse_build_arg_file(std::string_view text, const std::string& file);

// --label KEY[=VALUE] (buildx: a KEY alone is an empty label). Throws UsageError for an empty KEY.
std::pair<std::string, std::string> parse_label(const std::string& text);

// --build-context NAME=DIR | NAME=docker-image://REF | NAME=oci-layout://DIR[:TAG|@DIGEST]. Returns
// context_name(NAME) and the source (an oci_layout still to import). Throws UsageError for a NAME
// that is not a reference, an empty or unsupported value (another scheme, a URL), a bad REF or
// digest, or a directory (or layout directory) that does not exist.
std::pair<std::string, builder::NamedContext> parse_build_context(const std::string& text);

// --add-host HOST:IP (or HOST=IP; an IPv6 address may be in brackets), as buildx checks it.
// Returns {host, ip}. Throws UsageError for a missing part, an IP that is not an IPv4 or IPv6
// address, or `host-gateway`, which needs a daemon's gateway address.
std::pair<std::string, std::string> parse_add_host(const std::string& text);

// --network default|none|host. Throws UsageError for anything else.
parser::NetworkMode parse_network(const std::string& text);

// --shm-size: bytes with an optional binary unit, as docker's RAMInBytes (`64m`, `1g`, `1.5GiB`,
// `1048576`). Throws UsageError for a malformed, zero or too large size.
std::int64_t parse_shm_size(const std::string& text);

// --ulimit TYPE=SOFT[:HARD] with docker's names (nofile, nproc, core, …); HARD defaults to SOFT,
// -1 is unlimited. Throws UsageError for an unknown TYPE, a value that is not a number, or SOFT
// above HARD.
builder::SandboxRlimit parse_ulimit(const std::string& text);

// Imports the image an oci_layout context names (by digest, else by its ref.name tag; the only
// image of a layout when no tag was given and none is tagged `latest`) into `store`, its blobs
// verified, and tags it `NAME@DIGEST` there. Returns that reference. Throws UsageError naming the
// flag value for a layout that is not an OCI layout, lacks the tag or digest, or holds a blob that
// does not match its digest.
registry::Reference import_oci_layout(const std::string& name, const builder::NamedContext& context,
                                      cache::ContentStore& store, const builder::Platform& platform);

}  // namespace cbuild::cli
