#pragma once
// The content-addressed key of a build step: every input that can change a step's result goes
// in as a named field, and the key is the sha256 of an unambiguous encoding of those fields.
// The fields are kept, so `--explain` can print what went into a key and which input changed.

#include <string>
#include <string_view>
#include <vector>

#include "common/digest.h"

namespace cbuild::cache {

// One named input of a key, as it was added.
struct CacheKeyInput {
    enum class Kind { scalar, list };

    std::string field;
    Kind kind = Kind::scalar;
    // Exactly one element for a scalar; any number, including none, for a list.
    std::vector<std::string> values;

    // The value as --explain prints it: a scalar as a quoted C-style string ("a b"), a list as
    // ["a", "b"]. Non-printable bytes are escaped, so distinct values print differently.
    std::string value_text() const;

    friend bool operator==(const CacheKeyInput&, const CacheKeyInput&) = default;
};

// Builds a step's cache key from named fields. Order matters: the same fields added in a
// different order give a different key, so callers add them in one fixed order.
//
// Key format (version 1). Stored cache records are found by this digest, so any change here
// must bump the version string, which makes every old key miss rather than collide:
//
//   key     = sha256( "cbuild-cache-key-v1" NUL record* )
//   record  = "S" netstr(field) netstr(value)                      a scalar field
//           | "L" netstr(field) count ":" netstr(element)*          a list field
//   netstr(x) = decimal byte length of x, ":", the bytes of x
//   count   = decimal number of elements
//
// Every part is length-framed (ccache's hash_delimiter idea, with explicit lengths), so the
// byte stream decodes to exactly one sequence of records: a list ["a b"] never hashes like
// ["a", "b"], a field name never runs into its value, and a scalar never equals a
// one-element list. Values are raw bytes; embedded NULs and newlines are fine.
class CacheKeyBuilder {
public:
    // Appends a scalar field. Field names may repeat (explain_difference then pairs the n-th
    // occurrence in one key with the n-th in the other). Returns *this to chain calls.
    CacheKeyBuilder& add(std::string_view field, std::string_view value);

    // Appends a list field, e.g. a RUN command's argv or a COPY's source paths.
    CacheKeyBuilder& add_list(std::string_view field, const std::vector<std::string>& values);

    // The key of the fields added so far (see the format above). Does not change the builder;
    // adding more fields and calling it again gives the key of the longer list.
    Digest finish() const;

    // The fields in the order they were added.
    const std::vector<CacheKeyInput>& inputs() const { return m_inputs; }

private:
    std::vector<CacheKeyInput> m_inputs;
};

// Why two keys differ, one human-readable line per difference, `before` being the old key and
// `after` the new one:
//   changed <field>: <old value_text> -> <new value_text>
//   added <field>: <value_text>            (only in `after`)
//   removed <field>: <value_text>          (only in `before`)
//   reordered: <old field order> -> <new field order>
// "reordered" lists the fields present in both keys, in each key's order, when that order
// differs: the one change the per-field lines cannot show. A repeated field is labelled by
// occurrence from the second on ("env#2"). The result is empty exactly when the keys are equal.
std::vector<std::string> explain_difference(const CacheKeyBuilder& before,
                                            const CacheKeyBuilder& after);

}  // namespace cbuild::cache
