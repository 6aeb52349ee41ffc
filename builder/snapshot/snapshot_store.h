#pragma once
// Snapshots: each layer of an image unpacked once into a directory of its own, in overlay form
// (its diff only), named by the layer's chain ID; a stage's root filesystem is the overlay of
// its layers' snapshots, and a RUN step's upper dir becomes the snapshot of its new layer.
//
// On-disk layout, under the store's directory (shared by every build and by concurrent cbuild
// processes):
//   <chain-hex>/fs/   a committed snapshot: the layer's diff as an overlayfs lower dir
//                     (whiteouts are 0:0 character devices, opaque directories carry
//                     trusted.overlay.opaque="y", or user.overlay.opaque="y" in a store made in
//                     a user namespace, as rootless cbuild runs). Never changed once committed.
//   overlay-xattrs    "trusted\n" or "user\n": the xattr namespace of the store's snapshots,
//                     written by the first process that opens the store. A process in the other
//                     kind of user namespace is refused, so a store is never read with the
//                     wrong opaque marker (overlayfs would show the hidden lower children).
//   tmp-XXXXXX/       work in progress: `fs/` being unpacked, a RUN's `upper/` and `work/`,
//                     or overlay_supported()'s probe. A finished snapshot's tmp dir is renamed
//                     to <chain-hex>.
// Publishing is syncfs(2), so that a snapshot which survives a crash is whole, then one
// rename(2), which cannot replace a non-empty directory: when two makers race, the loser
// discards its copy and uses the winner's. A crash leaves only tmp-* dirs, which remove_stale()
// deletes by age. Paths stay short (the store's path, 64 hex digits, `fs`): mount(2) without
// the new mount API takes every lower dir in one page of options.

#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>

#include "common/digest.h"

namespace cbuild::builder {

// The chain ID of a layer (OCI image-spec config.md): ChainID(L0) = DiffID(L0), and
// ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)) over the digests' "sha256:..." forms.
Digest chain_id(const std::optional<Digest>& parent_chain, const Digest& diff_id);

class SnapshotStore {
public:
    // Opens the store at `dir`, creating it (and its parents) when missing. Throws IoError, or
    // Error when its snapshots were made in the other kind of user namespace (overlay-xattrs).
    explicit SnapshotStore(std::filesystem::path dir);

    // The fs dir of the committed snapshot `chain_id`, or nullopt.
    std::optional<std::filesystem::path> find(const Digest& chain_id) const;

    // The fs dir of snapshot `chain_id`, made first when absent: `fill` gets an empty directory
    // inside a fresh tmp-* dir, which is then published as <chain-hex>. If another maker
    // publishes first, this copy is discarded and the winner's returned. If `fill` throws, the
    // tmp dir is removed and the exception propagates; IoError when the store fails.
    std::filesystem::path ensure(const Digest& chain_id, const std::function<void(const std::filesystem::path&)>& fill);

    // A fresh tmp-* directory holding empty `upper/` and `work/` dirs for an overlay mount
    // (on the store's filesystem, so that commit() renames). Removed with its content by the
    // destructor unless committed. Move-only.
    class Scratch {
    public:
        Scratch(Scratch&& other) noexcept;
        Scratch& operator=(Scratch&&) = delete;
        Scratch(const Scratch&) = delete;
        Scratch& operator=(const Scratch&) = delete;
        ~Scratch();

        const std::filesystem::path& upper() const { return m_upper; }
        const std::filesystem::path& work() const { return m_work; }

    private:
        friend class SnapshotStore;
        explicit Scratch(std::filesystem::path dir);

        std::filesystem::path m_dir;  // empty once committed or moved from
        std::filesystem::path m_upper;
        std::filesystem::path m_work;
    };

    // Makes a Scratch. Throws IoError.
    Scratch make_scratch();

    // Publishes `scratch`'s upper dir (unmounted by now) as snapshot `chain_id`, discarding its
    // work dir, and returns the snapshot's fs dir; when `chain_id` already exists the scratch is
    // discarded and the existing one returned. Throws IoError (the scratch is then discarded).
    std::filesystem::path commit(Scratch&& scratch, const Digest& chain_id);

    // Whether overlayfs works on this store: probed once per store object, in a forked child
    // with a private mount namespace (so nothing stays mounted) that mounts a small overlay and
    // deletes a lower file through it; true when the upper dir then holds the whiteout.
    bool overlay_supported() const;

    // Removes the tmp-* dirs made more than `age` ago: what crashed makers left. `age` must
    // exceed the longest a live maker needs (an unpack, a RUN step). Returns how many were
    // removed. Throws IoError.
    std::size_t remove_stale(std::chrono::seconds age);

private:
    std::filesystem::path make_temp_dir() const;
    std::filesystem::path publish(const std::filesystem::path& temp, const Digest& chain_id);
    bool probe_overlay() const;

    std::filesystem::path m_dir;
    mutable std::once_flag m_probed;
    mutable bool m_overlay_supported = false;
};

}  // namespace cbuild::builder
