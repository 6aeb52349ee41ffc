#pragma once
// The image model to and from JSON values. decode_* check types and required members and keep
// what the model cannot hold in `unknown`; encode_* write Go's omitempty rules, the model's
// fields over the unknown members.

#include "registry/image.h"
#include "registry/internal/json_fields.h"

namespace cbuild::registry::internal {

Platform decode_platform(const Json& value, const Where& where);
Descriptor decode_descriptor(const Json& value, const Where& where);
ImageManifest decode_manifest(const Json& value, const Where& where);
ImageIndex decode_index(const Json& value, const Where& where);
ImageConfig decode_config(const Json& value, const Where& where);

Json encode(const Platform& platform);
Json encode(const Descriptor& descriptor);
Json encode(const ImageManifest& manifest);
Json encode(const ImageIndex& index);
Json encode(const ImageConfig& config);

}  // namespace cbuild::registry::internal
