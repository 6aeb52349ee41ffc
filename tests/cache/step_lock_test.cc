#include "cache/step_lock.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include <gtest/gtest.h>

#include "common/error.h"
#include "tests/support/temp_dir.h"

namespace cbuild::cache {
namespace {

namespace fs = std::filesystem;

const Digest k_key = sha256_of("step");

TEST(StepLockTest, ASecondHolderOfTheSameKeyWaitsForTheFirst) {
    test::TempDir dir;
    std::atomic<bool> first_released = false;
    std::atomic<bool> second_waited = false;
    std::optional<StepLock> first(std::in_place, dir.path(), k_key, [] { return false; });
    std::thread second([&] {
        const StepLock lock(dir.path(), k_key, [] { return false; }, [&] { second_waited = true; });
        // Granted only once the first let go.
        EXPECT_TRUE(first_released.load());
    });
    while (!second_waited) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    first_released = true;
    first.reset();
    second.join();
    EXPECT_FALSE(fs::exists(dir.path() / "locks" / k_key.hex())) << "the last holder removes its file";
}

TEST(StepLockTest, DifferentKeysDoNotWait) {
    test::TempDir dir;
    const StepLock one(dir.path(), k_key, [] { return false; });
    bool waited = false;
    const StepLock two(dir.path(), sha256_of("other"), [] { return false; }, [&] { waited = true; });
    EXPECT_FALSE(waited);
}

TEST(StepLockTest, AWaitEndsWhenTheBuildIsStopped) {
    test::TempDir dir;
    const StepLock held(dir.path(), k_key, [] { return false; });
    std::atomic<bool> stop = false;
    std::thread stopper([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        stop = true;
    });
    EXPECT_THROW(StepLock(dir.path(), k_key, [&] { return stop.load(); }), InterruptedError);
    stopper.join();
}

TEST(StepLockTest, AStaleLockFileFromADeadProcessIsTakenOver) {
    test::TempDir dir;
    fs::create_directories(dir.path() / "locks");
    { std::ofstream(dir.path() / "locks" / k_key.hex()) << ""; }  // left by a killed build: no flock held
    bool waited = false;
    const StepLock lock(dir.path(), k_key, [] { return false; }, [&] { waited = true; });
    EXPECT_FALSE(waited);
}

TEST(StepLockTest, AnUnwritableDirectoryIsAnIoErrorNamingIt) {
    test::TempDir dir;
    const fs::path file = dir.path() / "not-a-dir";
    { std::ofstream(file) << "x"; }
    try {
        const StepLock lock(file, k_key, [] { return false; });
        FAIL() << "expected IoError";
    } catch (const IoError& error) {
        EXPECT_NE(std::string(error.what()).find("not-a-dir"), std::string::npos) << error.what();
    }
}

}  // namespace
}  // namespace cbuild::cache
