// The build cache end to end: rebuilds that redo nothing, exactly the steps a change reaches,
// --explain naming the changed file, parallel stages, concurrent builds on one store, a build
// killed mid-way, and a cache shared between two stores through a real registry.

#include <gtest/gtest.h>

#include <sys/time.h>

#include <cstdlib>

#include <sstream>
#include <thread>

#include "tests/integration/busybox_build_fixture.h"

namespace cbuild {
namespace {

using test::run_command;
using test::shell_quote;
using test::write_file;

using CacheBuildTest = test::BusyboxBuildTest;

std::size_t count(const std::string& text, const std::string& needle) {
    std::size_t found = 0;
    for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++found;
    return found;
}

const char* const k_app =
    "FROM BASE\n"
    "COPY base.txt /app/base.txt\n"
    "RUN cat /app/base.txt > /app/derived.txt\n"
    "COPY app.txt /app/app.txt\n"
    "RUN cat /app/app.txt > /app/derived-app.txt\n";

TEST_F(CacheBuildTest, UnchangedRebuildTakesEveryStepFromTheCache) {
    write_file(m_context / "base.txt", "base\n");
    write_file(m_context / "app.txt", "app\n");
    const auto first = build(k_app, "-t cache/app:1");
    ASSERT_EQ(first.status, 0) << first.output;
    EXPECT_EQ(count(first.output, "CACHED"), 0u) << first.output;
    const auto second = build(k_app, "-t cache/app:2");
    ASSERT_EQ(second.status, 0) << second.output;
    EXPECT_EQ(count(second.output, "CACHED"), 4u) << second.output;
    // The same layers; the config differs only in its `created` time, as with BuildKit.
    EXPECT_EQ(manifest("cache/app:2")["layers"], manifest("cache/app:1")["layers"]);

    // A new mtime alone is not a change (BuildKit's content hash leaves mtime out).
    const timeval times[2] = {{1000, 0}, {1000, 0}};
    ASSERT_EQ(::utimes((m_context / "app.txt").c_str(), times), 0);
    const auto touched = build(k_app, "-t cache/app:3");
    ASSERT_EQ(touched.status, 0) << touched.output;
    EXPECT_EQ(count(touched.output, "CACHED"), 4u) << touched.output;
}

TEST_F(CacheBuildTest, OneChangedByteRebuildsExactlyTheStepsAfterItAndExplainNamesTheFile) {
    write_file(m_context / "base.txt", "base\n");
    write_file(m_context / "app.txt", "app\n");
    ASSERT_EQ(build(k_app, "-t cache/app:1").status, 0);
    write_file(m_context / "app.txt", "apq\n");
    const auto rebuilt = build(k_app, "--explain -t cache/app:2 -o type=local,dest=out");
    ASSERT_EQ(rebuilt.status, 0) << rebuilt.output;
    EXPECT_EQ(count(rebuilt.output, "CACHED"), 2u) << rebuilt.output;
    EXPECT_NE(rebuilt.output.find("[stage-0 3/4] COPY app.txt /app/app.txt: cache miss"), std::string::npos)
        << rebuilt.output;
    EXPECT_NE(rebuilt.output.find("file changed: app/app.txt"), std::string::npos) << rebuilt.output;
    EXPECT_NE(rebuilt.output.find("[stage-0 4/4] RUN cat /app/app.txt > /app/derived-app.txt: cache miss"),
              std::string::npos)
        << rebuilt.output;
    EXPECT_EQ(test::read_file(m_context / "out/app/derived-app.txt"), "apq\n");
    EXPECT_EQ(test::read_file(m_context / "out/app/derived.txt"), "base\n");
}

TEST_F(CacheBuildTest, ALargeCopyWithOneFileChangedReusesTheOtherGzipMembersAndGivesTheColdLayer) {
    // About 6 MB in 400 files, half text and half noise: several gzip members.
    unsigned seed = 1;
    for (int i = 0; i < 400; ++i) {
        std::string content(16384, '\0');
        for (std::size_t j = 0; j < content.size(); ++j) {
            seed = seed * 1103515245 + 12345;
            content[j] = i % 2 == 0 ? "copy me\n"[j % 8] : static_cast<char>(seed >> 16);
        }
        write_file(m_context / "data" / ("file-" + std::to_string(i)), content);
    }
    const std::string dockerfile = "FROM BASE\nCOPY data /data\n";
    // Pinned, so that the directories COPY creates carry the same time in every build.
    ::setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
    struct Unset {
        ~Unset() { ::unsetenv("SOURCE_DATE_EPOCH"); }
    } unset;
    ASSERT_EQ(build(dockerfile, "-t cache/members:1").status, 0);
    write_file(m_context / "data" / "file-200", "changed\n");
    const auto rebuilt = build(dockerfile, "--progress=plain -t cache/members:2");
    ASSERT_EQ(rebuilt.status, 0) << rebuilt.output;
    EXPECT_NE(rebuilt.output.find("of the layer's compressed bytes reused from its previous build"), std::string::npos)
        << rebuilt.output;
    // --no-cache writes the layer from scratch: the same blob, byte for byte.
    const auto cold = build(dockerfile, "--no-cache --progress=plain -t cache/members:3");
    ASSERT_EQ(cold.status, 0) << cold.output;
    EXPECT_EQ(cold.output.find("reused from its previous build"), std::string::npos) << cold.output;
    EXPECT_EQ(manifest("cache/members:2")["layers"].back(), manifest("cache/members:3")["layers"].back());
    EXPECT_NE(last_layer_listing("cache/members:2").find("data/file-200"), std::string::npos);
}

TEST_F(CacheBuildTest, MetadataChangesAndNoCacheFlags) {
    const std::string labelled = "FROM BASE\nLABEL version=1\nRUN echo one > /one\n";
    ASSERT_EQ(build(labelled, "-t cache/label:1").status, 0);
    std::string relabelled = labelled;
    relabelled.replace(relabelled.find("version=1"), 9, "version=2");
    const auto label_changed = build(relabelled, "-t cache/label:2");
    ASSERT_EQ(label_changed.status, 0) << label_changed.output;
    EXPECT_EQ(count(label_changed.output, "CACHED"), 1u) << "a LABEL does not reach the RUN: " << label_changed.output;

    const std::string with_env = "FROM BASE\nENV MODE=a\nRUN echo $MODE > /mode\n";
    ASSERT_EQ(build(with_env, "-t cache/env:1").status, 0);
    std::string other_env = with_env;
    other_env.replace(other_env.find("MODE=a"), 6, "MODE=b");
    const auto env_changed = build(other_env, "--explain -t cache/env:2");
    ASSERT_EQ(env_changed.status, 0);
    EXPECT_EQ(count(env_changed.output, "CACHED"), 0u) << "ENV is in RUN's key: " << env_changed.output;
    EXPECT_NE(env_changed.output.find("MODE=b"), std::string::npos) << env_changed.output;

    const auto no_cache = build(labelled, "--no-cache -t cache/label:3");
    ASSERT_EQ(no_cache.status, 0);
    EXPECT_EQ(count(no_cache.output, "CACHED"), 0u) << no_cache.output;
    EXPECT_NE(no_cache.output.find("--no-cache"), std::string::npos) << no_cache.output;

    const std::string staged = "FROM BASE AS tools\nRUN echo t > /t\nFROM BASE\nCOPY --from=tools /t /t\nRUN cat /t\n";
    ASSERT_EQ(build(staged, "-t cache/staged:1").status, 0);
    const auto filtered = build(staged, "--no-cache-filter tools -t cache/staged:2");
    ASSERT_EQ(filtered.status, 0) << filtered.output;
    EXPECT_NE(filtered.output.find("[tools 1/1] RUN echo t > /t: cache miss: --no-cache-filter"), std::string::npos)
        << filtered.output;
}

TEST_F(CacheBuildTest, IndependentStagesRunAtTheSameTime) {
    // Each stage waits (bounded) until the other has started: both finish only when they run
    // side by side. The rendezvous is a cache mount both stages share.
    auto stage = [](const std::string& name, const std::string& mine, const std::string& theirs) {
        return "FROM BASE AS " + name +
               "\nRUN --mount=type=cache,id=rendezvous,target=/r touch /r/" + mine +
               " && i=0; while [ ! -e /r/" + theirs + " ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; "
               "test -e /r/" + theirs + " && echo met > /" + name + "\n";
    };
    const std::string token = std::to_string(::getpid());
    const std::string dockerfile = stage("left", "left-" + token, "right-" + token) +
                                   stage("right", "right-" + token, "left-" + token) +
                                   "FROM BASE\nCOPY --from=left /left /left\nCOPY --from=right /right /right\n";
    const auto built = build(dockerfile, "--jobs 2 -t cache/parallel:1 -o type=local,dest=out");
    ASSERT_EQ(built.status, 0) << built.output;
    EXPECT_EQ(test::read_file(m_context / "out/left"), "met\n");
    EXPECT_EQ(test::read_file(m_context / "out/right"), "met\n");
}

TEST_F(CacheBuildTest, RunCommandsOfThreeStagesRunSideBySideWithTwoJobs) {
    // Each stage's command waits (bounded) for the other two to have started: with --jobs 2 that
    // only happens because a RUN gives its job slot back while its command runs.
    auto stage = [](const std::string& name, const std::string& token) {
        return "FROM BASE AS " + name + "\nRUN --mount=type=cache,id=three-" + token + ",target=/r touch /r/" +
               name + " && i=0; while [ \"$(ls /r | wc -l)\" -lt 3 ] && [ $i -lt 600 ]; do sleep 0.05; "
               "i=$((i+1)); done; test \"$(ls /r | wc -l)\" -ge 3 && echo met > /" + name + "\n";
    };
    const std::string token = std::to_string(::getpid());
    const std::string dockerfile = stage("one", token) + stage("two", token) + stage("three", token) +
                                   "FROM BASE\nCOPY --from=one /one /one\nCOPY --from=two /two /two\n"
                                   "COPY --from=three /three /three\n";
    const auto built = build(dockerfile, "--jobs 2 -t cache/three:1 -o type=local,dest=out");
    ASSERT_EQ(built.status, 0) << built.output;
    for (const char* name : {"one", "two", "three"}) EXPECT_EQ(test::read_file(m_context / "out" / name), "met\n");
}

TEST_F(CacheBuildTest, LockedCacheMountsAcrossStagesDoNotDeadlockTheSlots) {
    // One stage holds the locked cache mount while its command runs with its slot given back;
    // the others wait for the lock without holding a slot, so the holder can take one back.
    std::string dockerfile;
    const std::string token = std::to_string(::getpid());
    for (const char* name : {"a", "b", "c"})
        dockerfile += std::string("FROM BASE AS ") + name + "\nRUN --mount=type=cache,id=locked-" + token +
                      ",sharing=locked,target=/cache echo " + name + " >> /cache/log && sleep 0.3 && cp /cache/log /" + name +
                      "\n";
    dockerfile += "FROM BASE\nCOPY --from=a /a /a\nCOPY --from=b /b /b\nCOPY --from=c /c /c\n";
    const auto built = build(dockerfile, "--jobs 2 -t cache/locked:1 -o type=local,dest=out");
    ASSERT_EQ(built.status, 0) << built.output;
    EXPECT_EQ(test::read_file(m_context / "out/c").size() + test::read_file(m_context / "out/a").size() +
                  test::read_file(m_context / "out/b").size(),
              2u + 4u + 6u)
        << "the three commands ran one after another, each seeing the log of those before";
}

TEST_F(CacheBuildTest, AFailingStageStopsTheOthersAndIsTheErrorReported) {
    // 1002: a number no other test sleeps for, since pgrep sees the tests running beside this one.
    const std::string dockerfile = "FROM BASE AS slow\nRUN sleep 1002\n"
                                   "FROM BASE AS broken\nRUN echo broken-step && exit 7\n"
                                   "FROM BASE\nCOPY --from=slow /etc/passwd /a\nCOPY --from=broken /etc/passwd /b\n";
    const auto built = build(dockerfile, "--jobs 2 -t cache/fails:1");
    EXPECT_EQ(built.status, 1);
    EXPECT_NE(built.output.find("exit code: 7"), std::string::npos) << built.output;
    EXPECT_NE(run_command("pgrep -f 'sleep 100[2]'").status, 0) << "the other stage's step was stopped";
}

TEST_F(CacheBuildTest, ConcurrentBuildsShareOneStore) {
    write_file(m_context / "base.txt", "base\n");
    write_file(m_context / "app.txt", "app\n");
    std::string dockerfile = k_app;
    for (std::size_t at; (at = dockerfile.find("BASE")) != std::string::npos;) dockerfile.replace(at, 4, s_base);
    write_file(m_context / "Dockerfile", dockerfile);
    test::CommandResult results[2];
    std::thread other([&] { results[0] = cbuild("-t cache/concurrent:1 ."); });
    results[1] = cbuild("-t cache/concurrent:2 .");
    other.join();
    ASSERT_EQ(results[0].status, 0) << results[0].output;
    ASSERT_EQ(results[1].status, 0) << results[1].output;
    const auto again = cbuild("-t cache/concurrent:3 .");
    ASSERT_EQ(again.status, 0) << again.output;
    EXPECT_EQ(count(again.output, "CACHED"), 4u) << again.output;
}

TEST_F(CacheBuildTest, ABuildKilledMidStepLeavesAStoreTheNextBuildUses) {
    write_file(m_context / "Dockerfile", "FROM " + s_base + "\nRUN echo first > /first\nRUN echo kill-me-now && sleep 1003\n");
    const std::string script =
        test::cbuild_binary().string() + " --root " + shell_quote(store().string()) +
        " -t cache/killed:1 . > build.log 2>&1 & pid=$!\n"
        "for i in $(seq 1 300); do grep -q '^kill-me-now' build.log && break; sleep 0.1; done\n"
        "kill -KILL $pid\nwait $pid\necho status=$?\n";
    const auto killed = run_command("sh -c " + shell_quote(script), m_context);
    EXPECT_NE(killed.output.find("status=137"), std::string::npos) << killed.output;
    write_file(m_context / "Dockerfile", "FROM " + s_base + "\nRUN echo first > /first\nRUN echo done > /done\n");
    const auto rebuilt = cbuild("-t cache/killed:2 -o type=local,dest=out .");
    ASSERT_EQ(rebuilt.status, 0) << rebuilt.output;
    EXPECT_EQ(count(rebuilt.output, "CACHED"), 1u) << "the finished step survived the kill: " << rebuilt.output;
    EXPECT_EQ(test::read_file(m_context / "out/done"), "done\n");
}

TEST_F(CacheBuildTest, RegistryCacheMakesAFreshStoreBuildFromCache) {
    write_file(m_context / "base.txt", "base\n");
    write_file(m_context / "app.txt", "app\n");
    const std::string cache_ref = s_registry->host() + "/team/app:cache";
    const auto exported = build(k_app, "-t cache/app:1 --cache-to type=registry,ref=" + cache_ref + ",mode=max");
    ASSERT_EQ(exported.status, 0) << exported.output;
    EXPECT_NE(exported.output.find("exported 4 cache records"), std::string::npos) << exported.output;
    const std::filesystem::path fresh = m_dir.path() / "fresh-store";
    const auto imported = test::run_cbuild("--root " + shell_quote(fresh.string()) + " -t cache/app:1 --cache-from " +
                                               cache_ref + " .",
                                           m_context);
    ASSERT_EQ(imported.status, 0) << imported.output;
    EXPECT_NE(imported.output.find("imported 4 cache records"), std::string::npos) << imported.output;
    EXPECT_EQ(count(imported.output, "CACHED"), 4u) << imported.output;
    const std::string fresh_manifest = test::manifest_digest_in_layout(fresh, "cache/app:1");
    const auto layers = nlohmann::json::parse(test::read_file(
        fresh / "blobs" / "sha256" / fresh_manifest.substr(fresh_manifest.find(':') + 1)))["layers"];
    EXPECT_EQ(layers, manifest("cache/app:1")["layers"]);
}

}  // namespace
}  // namespace cbuild
