// A host for the Verilated RDU top with no Python: the speed limit of `rdu bench simspeed`.
//
// Built by testbench/sim/bare_harness.py (verilator --cc --exe --prefix Vtop). Usage:
//
//     bare_harness SCRIPT
//
// SCRIPT is text, one command a line (numbers decimal or 0x-prefixed hex; blank lines and
// lines starting with # are skipped):
//
//     M addr nbytes hex   write nbytes (hex: 2*nbytes digits, byte order) of device memory
//                         at the beat-aligned addr through AXI4 INCR bursts of full-width
//                         beats (a partial last beat is strobed), split at 4 KiB and at
//                         256 beats
//     R offset value      write an AXI4-Lite register
//     GO offset value timeout
//                         write the register (the doorbell) with the busy watcher armed,
//                         then run until busy has risen and fallen; busy must rise and
//                         fall within `timeout` cycles of the write. The window is the
//                         cycles from busy rising to falling, timed on steady_clock.
//     Q offset            read an AXI4-Lite register (reported under "registers")
//     D addr nwords       read nwords 32-bit words of device memory (reported in "reads")
//
// The run starts with reset: rst high for 2 cycles, then one more cycle (as
// testbench/bfm/clock_reset.py). A cycle is `clk=0; eval(); clk=1; eval();` with the host's
// inputs set before it; a handshake happens when valid and ready are both high before the
// rising edge. Every response must be OKAY, every handshake must finish within
// HANDSHAKE_CYCLES, and the top's `error` and `credit_error` must stay low: otherwise the
// harness prints "bare_harness: SCRIPT line N: <why>" on stderr and exits 1 (2 on a bad
// script or usage).
//
// On success, one JSON object on stdout:
//     {"busy_cycles": n or null, "wall_seconds": s or null, "cycles": total cycles,
//      "beat_bytes": b, "registers": {"<offset>": value, ...}, "reads": [[w, ...], ...]}

#include "Vtop.h"
#include "verilated.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr uint64_t HANDSHAKE_CYCLES = 100000;
constexpr uint64_t BOUNDARY = 4096;
constexpr uint64_t MAX_BURST = 256;
constexpr int RESET_CYCLES = 2;
constexpr uint8_t BURST_INCR = 1;

struct SimFailure : std::runtime_error {
    using std::runtime_error::runtime_error;
};
struct ScriptError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::string hex(uint64_t value) {
    char text[24];
    std::snprintf(text, sizeof text, "%#llx", static_cast<unsigned long long>(value));
    return text;
}

// Ports of any width from/to 32-bit words (Verilator: CData .. QData, VlWide<N> above 64).
void put(CData& port, const uint32_t* words) { port = static_cast<CData>(words[0]); }
void put(SData& port, const uint32_t* words) { port = static_cast<SData>(words[0]); }
void put(IData& port, const uint32_t* words) { port = words[0]; }
void put(QData& port, const uint32_t* words) {
    port = words[0] | static_cast<QData>(words[1]) << 32;
}
template <std::size_t N>
void put(VlWide<N>& port, const uint32_t* words) {
    for (std::size_t i = 0; i < N; ++i) port[i] = words[i];
}
template <class T>
void put_bits(T& port, uint64_t value) {
    const uint32_t words[2] = {static_cast<uint32_t>(value), static_cast<uint32_t>(value >> 32)};
    put(port, words);
}
void get(const IData& port, uint32_t* words) { words[0] = port; }
void get(const QData& port, uint32_t* words) {
    words[0] = static_cast<uint32_t>(port);
    words[1] = static_cast<uint32_t>(port >> 32);
}
template <std::size_t N>
void get(const VlWide<N>& port, uint32_t* words) {
    for (std::size_t i = 0; i < N; ++i) words[i] = port[i];
}

class Harness {
  public:
    Harness() : top_(new Vtop{&context_}) {}
    ~Harness() { top_->final(); }

    static constexpr std::size_t beat_bytes = sizeof(Vtop::s_axi_wdata);
    static constexpr std::size_t beat_words = beat_bytes / 4;
    static_assert(beat_bytes % 4 == 0, "the AXI4 data width must be a multiple of 32 bits");
    static_assert(beat_bytes <= 64, "wstrb wider than 64 bits");

    void reset() {
        top_->clk = 0;
        top_->rst = 1;
        for (int i = 0; i < RESET_CYCLES; ++i) step();
        top_->rst = 0;
        step();
    }

    // -- AXI4-Lite registers ------------------------------------------------------------------
    void write_register(uint32_t offset, uint32_t value) {
        Vtop& t = *top_;
        t.s_axil_awaddr = offset;
        t.s_axil_awprot = 0;
        t.s_axil_wdata = value;
        t.s_axil_wstrb = 0xF;
        t.s_axil_awvalid = 1;
        t.s_axil_wvalid = 1;
        const std::string what = "register write " + hex(offset);
        wait_for(what, [&] {
            const bool aw = t.s_axil_awvalid && t.s_axil_awready;
            const bool w = t.s_axil_wvalid && t.s_axil_wready;
            return [&t, aw, w] {
                if (aw) t.s_axil_awvalid = 0;
                if (w) t.s_axil_wvalid = 0;
                return !t.s_axil_awvalid && !t.s_axil_wvalid;
            };
        });
        t.s_axil_bready = 1;
        uint8_t resp = 0;
        wait_for(what + " response", [&] {
            const bool b = t.s_axil_bvalid;
            resp = t.s_axil_bresp;
            return [b] { return b; };
        });
        t.s_axil_bready = 0;
        check(resp, what);
    }

    uint32_t read_register(uint32_t offset) {
        Vtop& t = *top_;
        t.s_axil_araddr = offset;
        t.s_axil_arprot = 0;
        t.s_axil_arvalid = 1;
        const std::string what = "register read " + hex(offset);
        wait_for(what, [&] {
            const bool ar = t.s_axil_arready;
            return [&t, ar] {
                if (ar) t.s_axil_arvalid = 0;
                return ar;
            };
        });
        t.s_axil_rready = 1;
        uint32_t data = 0;
        uint8_t resp = 0;
        wait_for(what + " data", [&] {
            const bool r = t.s_axil_rvalid;
            data = t.s_axil_rdata;
            resp = t.s_axil_rresp;
            return [r] { return r; };
        });
        t.s_axil_rready = 0;
        check(resp, what);
        return data;
    }

    // -- AXI4 device memory -------------------------------------------------------------------
    void write_memory(uint64_t address, const std::vector<uint8_t>& data) {
        Vtop& t = *top_;
        std::size_t offset = 0;
        for (const auto& burst : bursts(address, data.size())) {
            const uint64_t burst_address = burst.first, beats = burst.second;
            set_address(t.s_axi_awid, t.s_axi_awaddr, t.s_axi_awlen, t.s_axi_awsize,
                        t.s_axi_awburst, burst_address, beats);
            t.s_axi_awvalid = 1;
            std::size_t sent = 0;
            auto present = [&](std::size_t beat) {
                uint32_t words[beat_words] = {};
                const std::size_t begin = offset + beat * beat_bytes;
                const std::size_t count = std::min(beat_bytes, data.size() - begin);
                for (std::size_t i = 0; i < count; ++i)
                    words[i / 4] |= static_cast<uint32_t>(data[begin + i]) << (8 * (i % 4));
                put(t.s_axi_wdata, words);
                put_bits(t.s_axi_wstrb, count == 64 ? ~0ull : (1ull << count) - 1);
                t.s_axi_wlast = beat == beats - 1;
            };
            present(0);
            t.s_axi_wvalid = 1;
            const std::string what = "memory write " + hex(burst_address);
            wait_for(what, [&] {
                const bool aw = t.s_axi_awvalid && t.s_axi_awready;
                const bool w = t.s_axi_wvalid && t.s_axi_wready;
                return [&, aw, w] {
                    if (aw) t.s_axi_awvalid = 0;
                    if (w && ++sent < beats) present(sent);
                    if (w && sent == beats) t.s_axi_wvalid = 0;
                    return !t.s_axi_awvalid && !t.s_axi_wvalid;
                };
            });
            t.s_axi_bready = 1;
            uint8_t resp = 0;
            wait_for(what + " response", [&] {
                const bool b = t.s_axi_bvalid;
                resp = t.s_axi_bresp;
                return [b] { return b; };
            });
            t.s_axi_bready = 0;
            check(resp, what);
            offset += beats * beat_bytes;
        }
    }

    std::vector<uint32_t> read_memory(uint64_t address, std::size_t nwords) {
        Vtop& t = *top_;
        std::vector<uint32_t> out;
        for (const auto& burst : bursts(address, 4 * nwords)) {
            const uint64_t burst_address = burst.first, beats = burst.second;
            set_address(t.s_axi_arid, t.s_axi_araddr, t.s_axi_arlen, t.s_axi_arsize,
                        t.s_axi_arburst, burst_address, beats);
            t.s_axi_arvalid = 1;
            const std::string what = "memory read " + hex(burst_address);
            wait_for(what, [&] {
                const bool ar = t.s_axi_arready;
                return [&t, ar] {
                    if (ar) t.s_axi_arvalid = 0;
                    return ar;
                };
            });
            t.s_axi_rready = 1;
            for (uint64_t beat = 0; beat < beats; ++beat) {
                uint32_t words[beat_words];
                bool last = false;
                uint8_t resp = 0;
                wait_for(what + " beat " + std::to_string(beat), [&] {
                    const bool r = t.s_axi_rvalid;
                    get(t.s_axi_rdata, words);
                    resp = t.s_axi_rresp;
                    last = t.s_axi_rlast;
                    return [r] { return r; };
                });
                check(resp, what);
                if (last != (beat == beats - 1))
                    throw SimFailure(what + ": RLAST on beat " + std::to_string(beat) + " of " +
                                     std::to_string(beats));
                out.insert(out.end(), words, words + beat_words);
            }
            t.s_axi_rready = 0;
        }
        out.resize(nwords);
        return out;
    }

    // -- the timed window ---------------------------------------------------------------------
    // Write the doorbell register with the busy watcher armed; run until busy fell.
    void run_window(uint32_t offset, uint32_t value, uint64_t timeout) {
        if (rise_ >= 0) throw ScriptError("GO given twice: one timed window per run");
        armed_ = true;
        const uint64_t start = cycles_;
        write_register(offset, value);
        while (fall_ < 0) {
            if (cycles_ - start >= timeout)
                throw SimFailure(rise_ < 0
                                     ? "busy did not rise within " + std::to_string(timeout) +
                                           " cycles of the doorbell"
                                     : "busy still high " + std::to_string(timeout) +
                                           " cycles after the doorbell");
            step();
        }
        armed_ = false;
    }

    int64_t busy_cycles() const { return fall_ < 0 ? -1 : fall_ - rise_; }
    double wall_seconds() const {
        return std::chrono::duration<double>(wall_end_ - wall_start_).count();
    }
    uint64_t cycles() const { return cycles_; }

  private:
    VerilatedContext context_;
    std::unique_ptr<Vtop> top_;
    uint64_t cycles_ = 0;
    bool armed_ = false;
    bool was_busy_ = false;
    int64_t rise_ = -1, fall_ = -1;
    std::chrono::steady_clock::time_point wall_start_, wall_end_;

    // One clock cycle: the low half settles the host's inputs, the rising edge clocks them;
    // the window's edges of busy are seen right after it.
    void step() {
        clock_low();
        clock_high();
    }
    void clock_low() {
        top_->clk = 0;
        top_->eval();
        context_.timeInc(5);
    }
    void clock_high() {
        top_->clk = 1;
        top_->eval();
        context_.timeInc(5);
        ++cycles_;
        after_edge();
    }

    void after_edge() {
        if (top_->error) throw SimFailure("error rose at cycle " + std::to_string(cycles_));
        if (top_->credit_error)
            throw SimFailure("credit_error rose at cycle " + std::to_string(cycles_));
        const bool busy = top_->busy;
        if (busy == was_busy_) return;
        was_busy_ = busy;
        if (!armed_) return;
        if (busy && rise_ < 0) {
            rise_ = static_cast<int64_t>(cycles_);
            wall_start_ = std::chrono::steady_clock::now();
        } else if (!busy && rise_ >= 0 && fall_ < 0) {
            fall_ = static_cast<int64_t>(cycles_);
            wall_end_ = std::chrono::steady_clock::now();
        }
    }

    // Cycle until done: `sample()` runs with the inputs settled before the rising edge and
    // returns what to do after it (a callable that updates inputs, true when finished).
    template <class Sample>
    void wait_for(const std::string& what, Sample&& sample) {
        for (uint64_t n = 0; n < HANDSHAKE_CYCLES; ++n) {
            clock_low();
            auto after = sample();
            clock_high();
            if (after()) return;
        }
        throw SimFailure(what + " did not finish within " + std::to_string(HANDSHAKE_CYCLES) +
                         " cycles");
    }

    static void check(uint8_t resp, const std::string& what) {
        static const char* names[] = {"OKAY", "EXOKAY", "SLVERR", "DECERR"};
        if (resp) throw SimFailure(what + " answered " + names[resp & 3]);
    }

    static std::vector<std::pair<uint64_t, uint64_t>> bursts(uint64_t address, uint64_t nbytes) {
        if (address % beat_bytes)
            throw ScriptError("address " + hex(address) + " is not aligned to a " +
                              std::to_string(beat_bytes) + "-byte beat");
        std::vector<std::pair<uint64_t, uint64_t>> out;
        uint64_t beats = (nbytes + beat_bytes - 1) / beat_bytes;
        while (beats) {
            const uint64_t room = (BOUNDARY - address % BOUNDARY) / beat_bytes;
            const uint64_t count = std::min({beats, MAX_BURST, room});
            out.emplace_back(address, count);
            address += count * beat_bytes;
            beats -= count;
        }
        return out;
    }

    template <class Id, class Addr, class Len, class Size, class Burst>
    static void set_address(Id& id, Addr& addr, Len& len, Size& size, Burst& burst,
                            uint64_t address, uint64_t beats) {
        if (address >> 32) throw ScriptError("address " + hex(address) + " beyond 32 bits");
        id = 0;
        addr = static_cast<Addr>(address);
        len = static_cast<Len>(beats - 1);
        size = static_cast<Size>(__builtin_ctz(beat_bytes));
        burst = BURST_INCR;
    }
};

uint64_t number(std::istringstream& line, const char* what) {
    std::string token;
    if (!(line >> token)) throw ScriptError(std::string("missing ") + what);
    std::size_t used = 0;
    uint64_t value = 0;
    try {
        value = std::stoull(token, &used, 0);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used != token.size()) throw ScriptError(std::string("bad ") + what + " '" + token + "'");
    return value;
}

uint32_t number32(std::istringstream& line, const char* what) {
    const uint64_t value = number(line, what);
    if (value >> 32) throw ScriptError(std::string(what) + " " + hex(value) + " beyond 32 bits");
    return static_cast<uint32_t>(value);
}

int nibble(char digit) {
    if (digit >= '0' && digit <= '9') return digit - '0';
    if (digit >= 'a' && digit <= 'f') return digit - 'a' + 10;
    if (digit >= 'A' && digit <= 'F') return digit - 'A' + 10;
    throw ScriptError(std::string("bad hex digit '") + digit + "'");
}

std::vector<uint8_t> hex_bytes(std::istringstream& line, uint64_t nbytes) {
    std::string text;
    line >> text;
    if (text.size() != 2 * nbytes)
        throw ScriptError("expected " + std::to_string(2 * nbytes) + " hex digits, got " +
                          std::to_string(text.size()));
    std::vector<uint8_t> out(nbytes);
    for (uint64_t i = 0; i < nbytes; ++i)
        out[i] = static_cast<uint8_t>(nibble(text[2 * i]) << 4 | nibble(text[2 * i + 1]));
    return out;
}

void print_json(const Harness& harness, const std::map<uint32_t, uint32_t>& registers,
                const std::vector<std::vector<uint32_t>>& reads) {
    std::string out = "{\"busy_cycles\": ";
    if (harness.busy_cycles() < 0) {
        out += "null, \"wall_seconds\": null";
    } else {
        char seconds[32];
        std::snprintf(seconds, sizeof seconds, "%.9g", harness.wall_seconds());
        out += std::to_string(harness.busy_cycles()) + ", \"wall_seconds\": " + seconds;
    }
    out += ", \"cycles\": " + std::to_string(harness.cycles());
    out += ", \"beat_bytes\": " + std::to_string(Harness::beat_bytes);
    out += ", \"registers\": {";
    const char* sep = "";
    for (auto [offset, value] : registers) {
        out += sep + ("\"" + std::to_string(offset) + "\": ") + std::to_string(value);
        sep = ", ";
    }
    out += "}, \"reads\": [";
    sep = "";
    for (const auto& words : reads) {
        out += sep;
        out += "[";
        for (std::size_t i = 0; i < words.size(); ++i)
            out += (i ? "," : "") + std::to_string(words[i]);
        out += "]";
        sep = ", ";
    }
    out += "]}\n";
    std::fputs(out.c_str(), stdout);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s SCRIPT\n", argv[0]);
        return 2;
    }
    std::ifstream script(argv[1]);
    if (!script) {
        std::fprintf(stderr, "bare_harness: cannot open script %s\n", argv[1]);
        return 2;
    }
    int line_number = 0;
    try {
        Harness harness;
        harness.reset();
        std::map<uint32_t, uint32_t> registers;
        std::vector<std::vector<uint32_t>> reads;
        std::string text;
        while (std::getline(script, text)) {
            ++line_number;
            std::istringstream line(text);
            std::string op;
            if (!(line >> op) || op[0] == '#') continue;
            if (op == "M") {
                const uint64_t address = number(line, "address");
                harness.write_memory(address, hex_bytes(line, number(line, "byte count")));
            } else if (op == "R") {
                const uint32_t offset = number32(line, "offset");
                harness.write_register(offset, number32(line, "value"));
            } else if (op == "GO") {
                const uint32_t offset = number32(line, "offset");
                const uint32_t value = number32(line, "value");
                harness.run_window(offset, value, number(line, "timeout"));
            } else if (op == "Q") {
                const uint32_t offset = number32(line, "offset");
                registers[offset] = harness.read_register(offset);
            } else if (op == "D") {
                const uint64_t address = number(line, "address");
                reads.push_back(harness.read_memory(address, number(line, "word count")));
            } else {
                throw ScriptError("unknown command '" + op + "'");
            }
            std::string rest;
            if (line >> rest) throw ScriptError("unexpected '" + rest + "'");
        }
        print_json(harness, registers, reads);
    } catch (const ScriptError& error) {
        std::fprintf(stderr, "bare_harness: %s line %d: %s\n", argv[1], line_number,
                     error.what());
        return 2;
    } catch (const SimFailure& error) {
        std::fprintf(stderr, "bare_harness: %s line %d: %s\n", argv[1], line_number,
                     error.what());
        return 1;
    }
    return 0;
}
