#pragma once
// Image references ("ubuntu", "ghcr.io/org/app:1.2@sha256:…"), parsed and normalised the way
// Docker does it (github.com/distribution/reference ParseNormalizedNamed, then the default tag).

#include <optional>
#include <string>
#include <string_view>

#include "common/digest.h"
#include "common/error.h"

namespace cbuild::registry {

// A string that is not a valid image reference. The message is
// "invalid reference `TEXT`: why".
class ReferenceError : public Error {
public:
    ReferenceError(std::string reference, const std::string& reason);

    // The rejected string, verbatim.
    const std::string& reference() const { return m_reference; }

private:
    std::string m_reference;
};

// A fully qualified image reference: domain, repository path, and a tag and/or a digest.
// Immutable; the only way to get one is parse(), so every Reference is valid.
//
// Grammar (distribution/reference):
//   reference      := name [ ":" tag ] [ "@" digest ]
//   name           := [ domain "/" ] path
//   domain         := host [ ":" port ]     host: DNS labels [A-Za-z0-9-] joined by ".",
//                                           or "[" IPv6 hex and ":" "]"; port: [0-9]+
//   path           := component [ "/" component ]*        at most 255 characters
//   component      := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//   tag            := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//   digest         := see cbuild::Digest (sha256, sha384, sha512; lowercase hex)
//
// Normalisation: the first "/"-separated component is a domain only if it contains "." or
// ":", is "localhost", or has an uppercase letter (uppercase is never valid in a path, so
// upstream reads it as a host); otherwise the domain is docker.io. "index.docker.io" becomes
// "docker.io", and a one-component path on docker.io gets the "library/" prefix. A reference
// with neither tag nor digest gets the tag "latest".
class Reference {
public:
    // Parses and normalises `text`. Throws ReferenceError, naming `text` and the broken rule:
    // empty input, a 64-hex-digit string (an image ID, not a name), an invalid host or port,
    // uppercase or a bad character in the path, a path over 255 characters, a bad tag, or a
    // bad digest.
    static Reference parse(std::string_view text);

    // "docker.io", "localhost:5000", "[::1]:5000", "ghcr.io".
    const std::string& domain() const { return m_domain; }
    // The repository path under the domain: "library/ubuntu", "user/img", "a/b/c".
    const std::string& path() const { return m_path; }
    // The tag; "latest" when the text had neither tag nor digest, empty for "name@digest".
    const std::optional<std::string>& tag() const { return m_tag; }
    // The digest, when the text pinned one. With both a tag and a digest, the digest is what
    // identifies the image; the tag is kept for display.
    const std::optional<Digest>& digest() const { return m_digest; }

    // The host:port to send distribution API requests to: domain(), except that Docker Hub's
    // docker.io is served by registry-1.docker.io.
    std::string registry_host() const;
    // "domain/path", e.g. "docker.io/library/ubuntu".
    std::string name() const;
    // The fully qualified form: "docker.io/library/ubuntu:latest",
    // "localhost:5000/a@sha256:…", "ghcr.io/o/a:1@sha256:…". parse(to_string()) == *this.
    std::string to_string() const;
    // The short form Docker prints: docker.io and a lone "library/" are dropped:
    // "ubuntu:latest", "user/img:tag", "localhost:5000/a:latest".
    std::string familiar() const;

    friend bool operator==(const Reference&, const Reference&) = default;

private:
    Reference() = default;

    std::string m_domain;
    std::string m_path;
    std::optional<std::string> m_tag;
    std::optional<Digest> m_digest;
};

}  // namespace cbuild::registry
