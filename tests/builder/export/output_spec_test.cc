#include <gtest/gtest.h>

#include "builder/export/export.h"
#include "common/error.h"

namespace cbuild::builder {
namespace {

TEST(OutputSpecTest, TypesAndDestinations) {
    EXPECT_EQ(parse_output_spec("type=oci,dest=out.tar").request.type, ExportType::oci);
    EXPECT_EQ(parse_output_spec("type=oci,dest=out.tar").request.dest, "out.tar");
    EXPECT_EQ(parse_output_spec("type=docker,dest=-").request.type, ExportType::docker);
    EXPECT_EQ(parse_output_spec("type=tar,dest=fs.tar").request.type, ExportType::tar);
    EXPECT_EQ(parse_output_spec("type=image").request.type, ExportType::store);
    const OutputSpec bare = parse_output_spec("outdir");
    EXPECT_EQ(bare.request.type, ExportType::local);
    EXPECT_EQ(bare.request.dest, "outdir");
}

TEST(OutputSpecTest, CompressionKeysGoToTheCaller) {
    const OutputSpec spec = parse_output_spec("type=oci,dest=x.tar,compression=zstd,compression-level=3");
    ASSERT_EQ(spec.options.size(), 2u);
    EXPECT_EQ(spec.options[0], (std::pair<std::string, std::string>{"compression", "zstd"}));
    EXPECT_EQ(spec.options[1], (std::pair<std::string, std::string>{"compression-level", "3"}));
    EXPECT_NO_THROW(parse_output_spec("type=oci,dest=x.tar,force-compression=false"));
}

TEST(OutputSpecTest, RegistryPushes) {
    const OutputSpec spec = parse_output_spec("type=registry,name=localhost:5000/a:1,registry.insecure=true");
    EXPECT_EQ(spec.request.type, ExportType::registry);
    EXPECT_TRUE(spec.request.push);
    EXPECT_TRUE(spec.request.insecure);
    EXPECT_EQ(spec.request.names, std::vector<std::string>{"localhost:5000/a:1"});
    EXPECT_TRUE(parse_output_spec("type=image,push=true").request.push);
    EXPECT_THROW(parse_output_spec("type=image,push=maybe"), UsageError);
}

TEST(OutputSpecTest, WhatItCannotDoIsAnError) {
    EXPECT_THROW(parse_output_spec("type=registry,dest=x"), UsageError);
    EXPECT_THROW(parse_output_spec("type=local,dest=x,push=true"), UsageError);
    EXPECT_THROW(parse_output_spec("type=oci"), UsageError) << "dest is required";
    EXPECT_THROW(parse_output_spec("type=image,dest=x"), UsageError);
    EXPECT_THROW(parse_output_spec("type=oci,dest=x,push=true"), UsageError);
    EXPECT_THROW(parse_output_spec("type=oci,dest=x,unknown=1"), UsageError);
    EXPECT_THROW(parse_output_spec("type=oci,dest=x,force-compression=true"), UsageError);
    EXPECT_THROW(parse_output_spec("dest=x"), UsageError) << "type is required";
    EXPECT_THROW(parse_output_spec("type=oci,dest"), UsageError);
    EXPECT_THROW(parse_output_spec(""), UsageError);
}

}  // namespace
}  // namespace cbuild::builder
