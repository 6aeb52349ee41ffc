#include "builder/snapshot/user_namespace.h"

#include "builder/snapshot/internal/overlay_xattr.h"

namespace cbuild::builder {

bool in_user_namespace() { return internal::in_user_namespace(); }

}  // namespace cbuild::builder
