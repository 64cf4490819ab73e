#pragma once
// A real icalgate-graphsim for a unit test: a temporary directory of its own, the executable
// built next to the test binary, started on a free loopback port and stopped with the test
// (also when the test process dies: graphsim exits when its stdin closes).

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch_test_macros.hpp>

#include <csignal>
#include <exception>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <optional>
#include <spawn.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace icalgate::testing {

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

class GraphsimProcess {
 public:
  explicit GraphsimProcess(const char* name) {
    std::string pattern = std::string("/tmp/icalgate-") + name + "-test-XXXXXX";
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    dir_ = pattern;
    write_text(control(), "{}");
  }
  ~GraphsimProcess() {
    if (stdin_ >= 0) {
      close(stdin_);
    }
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  GraphsimProcess(const GraphsimProcess&) = delete;
  GraphsimProcess& operator=(const GraphsimProcess&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path control() const { return dir_ / "control.json"; }
  std::filesystem::path log() const { return dir_ / "graphsim.log"; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void set_control(const std::string& text) { write_text(control(), text); }

  // Starts graphsim with `args` (--data and whatever the test needs) plus the listener, the
  // control file and the stdin watch.
  void start(std::vector<std::string> args) {
    const auto exe =
        std::filesystem::read_symlink("/proc/self/exe").parent_path() / "icalgate-graphsim";
    INFO("graphsim expected at " << exe.string());
    REQUIRE(std::filesystem::exists(exe));
    args.insert(args.begin(), {exe.string(), "--listen", "127.0.0.1:0", "--control",
                               control().string(), "--exit-on-stdin-eof"});
    std::vector<char*> argv;
    for (auto& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    // stdout tells us the port; stdin is a pipe whose write end only this process holds.
    int out[2];
    int in[2];
    REQUIRE(pipe2(out, O_CLOEXEC) == 0);
    REQUIRE(pipe2(in, O_CLOEXEC) == 0);
    stdin_ = in[1];
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    const std::string log_path = log().string();
    posix_spawn_file_actions_addopen(&actions, 2, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    const int rc = posix_spawn(&pid_, exe.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    close(in[0]);
    REQUIRE(rc == 0);
    std::string line;
    char c = 0;
    while (read(out[0], &c, 1) == 1 && c != '\n') {
      line.push_back(c);
    }
    close(out[0]);
    const auto colon = line.rfind(':');
    REQUIRE(colon != std::string::npos);
    port_ = std::stoi(line.substr(colon + 1));
  }

 private:
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int stdin_ = -1;
  int port_ = 0;
};

inline void rethrow(std::exception_ptr e) {
  if (e) {
    std::rethrow_exception(e);
  }
}

// Runs one awaitable to completion on `io`.
template <class T>
T run(boost::asio::io_context& io, boost::asio::awaitable<T> task) {
  std::optional<T> result;
  boost::asio::co_spawn(
      io, [&]() -> boost::asio::awaitable<void> { result.emplace(co_await std::move(task)); },
      rethrow);
  io.restart();
  io.run();
  REQUIRE(result.has_value());
  return std::move(*result);
}

} // namespace icalgate::testing
