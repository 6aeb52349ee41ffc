#include "builder/snapshot/overlay_mount.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <new>
#include <span>

#include "builder/snapshot/internal/overlay_xattr.h"

namespace cbuild::builder {

namespace {

// mount_new_api()'s answer when the kernel lacks fsopen or "lowerdir+": use mount(2).
constexpr int k_no_new_api = -1;

// Options that keep an upper dir a plain diff the differ can read: no rename redirects, no
// metadata-only copy-ups, no hardlink index (overlayfs's defaults, but a kernel can change them).
constexpr const char* k_plain_upper_options[][2] = {{"redirect_dir", "off"}, {"metacopy", "off"}, {"index", "off"}};
// The same in a user namespace, where overlayfs keeps its xattrs in user.overlay.* and refuses
// redirect_dir=off (it would follow redirects, which userxattr forbids): nofollow neither makes
// nor follows them.
constexpr const char* k_plain_upper_options_userxattr[][2] = {
    {"redirect_dir", "nofollow"}, {"metacopy", "off"}, {"index", "off"}};

std::span<const char* const[2]> plain_upper_options(bool userxattr) {
    if (userxattr) return k_plain_upper_options_userxattr;
    return k_plain_upper_options;
}

std::string escape(const std::string& path) {
    std::string out;
    for (const char c : path) {
        if (c == '\\' || c == ':' || c == ',') out += '\\';
        out += c;
    }
    return out;
}

}  // namespace

std::string overlay_mount_options(const std::vector<std::filesystem::path>& lowers, const std::filesystem::path& upper,
                                  const std::filesystem::path& work) {
    std::string options = "lowerdir=";
    for (std::size_t i = 0; i < lowers.size(); ++i) options += (i > 0 ? ":" : "") + escape(lowers[i].string());
    if (!upper.empty()) {
        options += ",upperdir=" + escape(upper.string()) + ",workdir=" + escape(work.string());
        for (const auto& [key, value] : plain_upper_options(internal::in_user_namespace()))
            options += std::string(",") + key + "=" + value;
    }
    if (internal::in_user_namespace()) options += ",userxattr";
    return options;
}

OverlayMount::OverlayMount(std::filesystem::path target, std::vector<std::filesystem::path> lowers,
                           std::filesystem::path upper, std::filesystem::path work)
    : m_target(target.string()),
      m_upper(upper.string()),
      m_work(work.string()),
      m_options(overlay_mount_options(lowers, upper, work)),
      m_userxattr(internal::in_user_namespace()) {
    if (lowers.empty()) throw Error("overlay on `" + m_target + "`: no lower dir");
    if (upper.empty() != work.empty())
        throw Error("overlay on `" + m_target + "`: an upper dir needs a work dir, and a work dir an upper dir");
    for (const std::filesystem::path& lower : lowers) m_lowers.push_back(lower.string());
}

int OverlayMount::mount(MountApi api) const noexcept {
    if (m_upper.empty() && m_lowers.size() == 1) return bind_read_only();
    if (api == MountApi::automatic) {
        const int result = mount_new_api();
        if (result != k_no_new_api) return result;
    }
    return mount_legacy();
}

int OverlayMount::mount_new_api() const noexcept {
    const int context = ::fsopen("overlay", FSOPEN_CLOEXEC);
    if (context < 0) return errno == ENOSYS ? k_no_new_api : errno;
    const auto fail = [context](int error) {
        ::close(context);
        return error;
    };
    for (std::size_t i = 0; i < m_lowers.size(); ++i) {
        if (::fsconfig(context, FSCONFIG_SET_STRING, "lowerdir+", m_lowers[i].c_str(), 0) == 0) continue;
        // Before Linux 6.8 overlayfs rejects the parameter itself.
        return fail(i == 0 && errno == EINVAL ? k_no_new_api : errno);
    }
    if (m_userxattr && ::fsconfig(context, FSCONFIG_SET_FLAG, "userxattr", nullptr, 0) != 0) return fail(errno);
    if (!m_upper.empty()) {
        if (::fsconfig(context, FSCONFIG_SET_STRING, "upperdir", m_upper.c_str(), 0) != 0 ||
            ::fsconfig(context, FSCONFIG_SET_STRING, "workdir", m_work.c_str(), 0) != 0)
            return fail(errno);
        for (const auto& [key, value] : plain_upper_options(m_userxattr))
            if (::fsconfig(context, FSCONFIG_SET_STRING, key, value, 0) != 0) return fail(errno);
    }
    if (::fsconfig(context, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) return fail(errno);
    const int mounted = ::fsmount(context, FSMOUNT_CLOEXEC, m_upper.empty() ? MOUNT_ATTR_RDONLY : 0);
    if (mounted < 0) return fail(errno);
    // Until it is moved into place the mount is detached: closing it unmounts it.
    const int moved = ::move_mount(mounted, "", AT_FDCWD, m_target.c_str(), MOVE_MOUNT_F_EMPTY_PATH);
    const int error = errno;
    ::close(mounted);
    return fail(moved == 0 ? 0 : error);
}

int OverlayMount::mount_legacy() const noexcept {
    if (m_options.size() >= static_cast<std::size_t>(::getpagesize())) return E2BIG;
    const unsigned long flags = m_upper.empty() ? MS_RDONLY : 0;
    return ::mount("overlay", m_target.c_str(), "overlay", flags, m_options.c_str()) == 0 ? 0 : errno;
}

int OverlayMount::bind_read_only() const noexcept {
    if (::mount(m_lowers.front().c_str(), m_target.c_str(), nullptr, MS_BIND, nullptr) != 0) return errno;
    if (::mount(nullptr, m_target.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) == 0) return 0;
    const int error = errno;
    ::umount2(m_target.c_str(), MNT_DETACH);
    return error;
}

int mount_overlay(const std::filesystem::path& target, const std::vector<std::filesystem::path>& lowers,
                  const std::filesystem::path& upper, const std::filesystem::path& work) noexcept {
    try {
        return OverlayMount(target, lowers, upper, work).mount();
    } catch (const std::bad_alloc&) {
        return ENOMEM;
    } catch (...) {
        return EINVAL;
    }
}

}  // namespace cbuild::builder
