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

TEST(OutputSpecTest, WhatItCannotDoIsAnError) {
    EXPECT_THROW(parse_output_spec("type=registry"), UsageError);
    EXPECT_THROW(parse_output_spec("type=oci"), UsageError) << "dest is required";
    EXPECT_THROW(parse_output_spec("type=image,dest=x"), UsageError);
    EXPECT_THROW(parse_output_spec("type=oci,dest=x,push=true"), UsageError);
    EXPECT_THROW(parse_output_spec("type=oci,dest=x,force-compression=true"), UsageError);
    EXPECT_THROW(parse_output_spec("dest=x"), UsageError) << "type is required";
    EXPECT_THROW(parse_output_spec("type=oci,dest"), UsageError);
    EXPECT_THROW(parse_output_spec(""), UsageError);
}

}  // namespace
}  // namespace cbuild::builder
