#include "parser/internal/go_regexp.h"

#include <algorithm>
#include <iterator>

#include "parser/internal/text.h"

namespace cbuild::parser::internal {

namespace {

using Instruction = GoRegexp::Instruction;
using Op = GoRegexp::Op;
using RuneRanges = GoRegexp::RuneRanges;

bool is_word_byte(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

bool class_contains(const RuneRanges& ranges, char32_t rune) {
    auto it = std::upper_bound(ranges.begin(), ranges.end(), rune,
                               [](char32_t r, const auto& range) { return r < range.first; });
    return it != ranges.begin() && rune <= std::prev(it)->second;
}

// Per-thread buffers for the simulation, so matching allocates nothing once warm and a shared
// const matcher stays safe to use from several threads.
struct Scratch {
    std::vector<int> current, next, stack, seeds;
    std::vector<std::uint32_t> seen;
    std::uint32_t generation = 0;

    void begin_step(std::size_t program_size) {
        if (seen.size() < program_size) seen.resize(program_size, 0);
        if (++generation == 0) {
            std::fill(seen.begin(), seen.end(), 0);
            generation = 1;
        }
    }
};

}  // namespace

GoRegexp::GoRegexp(std::string_view expression)
    : m_program(compile_go_regexp(expression, m_classes)),
      m_anchored(m_program.front().op == Op::begin_text) {}

bool GoRegexp::matches(std::string_view text) const {
    return matches_some_prefix(text, {text.size()});
}

bool GoRegexp::matches_some_prefix(std::string_view text,
                                   const std::vector<std::size_t>& ends) const {
    if (ends.empty()) return false;
    thread_local Scratch scratch;
    const std::size_t size = m_program.size();
    // Adds `start` and everything reachable from it without consuming input at `pos`, for a
    // text that ends at `end`.
    const auto add = [&](std::vector<int>& list, int start, std::size_t pos, std::size_t end) {
        const auto at_word_boundary = [&]() {
            const bool before = pos > 0 && is_word_byte(static_cast<unsigned char>(text[pos - 1]));
            const bool after = pos < end && is_word_byte(static_cast<unsigned char>(text[pos]));
            return before != after;
        };
        scratch.stack.push_back(start);
        while (!scratch.stack.empty()) {
            const int pc = scratch.stack.back();
            scratch.stack.pop_back();
            if (scratch.seen[pc] == scratch.generation) continue;
            scratch.seen[pc] = scratch.generation;
            const Instruction& inst = m_program[pc];
            switch (inst.op) {
                case Op::jump: scratch.stack.push_back(inst.x); break;
                case Op::split:
                    scratch.stack.push_back(inst.y);
                    scratch.stack.push_back(inst.x);
                    break;
                case Op::begin_text: if (pos == 0) scratch.stack.push_back(pc + 1); break;
                case Op::end_text: if (pos == end) scratch.stack.push_back(pc + 1); break;
                case Op::word_boundary:
                    if (at_word_boundary()) scratch.stack.push_back(pc + 1);
                    break;
                case Op::no_word_boundary:
                    if (!at_word_boundary()) scratch.stack.push_back(pc + 1);
                    break;
                case Op::rune_class:
                case Op::match: list.push_back(pc); break;
            }
        }
    };
    const auto has_match = [&](const std::vector<int>& list) {
        return std::any_of(list.begin(), list.end(),
                           [&](int pc) { return m_program[pc].op == Op::match; });
    };

    // `seeds` are the states entered by the last step; their closure is the current state set.
    scratch.seeds.assign(1, 0);
    std::size_t next_end = 0;
    for (std::size_t pos = 0;;) {
        scratch.current.clear();
        scratch.begin_step(size);
        for (int seed : scratch.seeds) add(scratch.current, seed, pos, text.size());
        // A match that needs no end of text here also holds for every longer prefix.
        if (has_match(scratch.current) && ends.back() > pos) return true;
        while (ends[next_end] < pos)  // an end inside a rune: no prefix ends there
            if (++next_end == ends.size()) return false;
        if (ends[next_end] == pos) {
            // This prefix ends here: `$`, `\z` and `\b` see the end of text instead.
            scratch.next.clear();
            scratch.begin_step(size);
            for (int seed : scratch.seeds) add(scratch.next, seed, pos, pos);
            if (has_match(scratch.next)) return true;
            if (++next_end == ends.size()) return false;
        }
        if (pos >= text.size() || (m_anchored && scratch.current.empty())) return false;
        const Rune rune = decode_rune(text, pos);
        scratch.seeds.clear();
        for (int pc : scratch.current) {
            const Instruction& inst = m_program[pc];
            if (inst.op == Op::rune_class && class_contains(m_classes[inst.x], rune.code_point))
                scratch.seeds.push_back(pc + 1);
        }
        pos += rune.width;
        // Unanchored search, as MatchString does: a match may also start here.
        if (!m_anchored) scratch.seeds.push_back(0);
    }
}

}  // namespace cbuild::parser::internal
