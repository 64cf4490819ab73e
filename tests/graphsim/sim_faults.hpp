#pragma once
// Fault injection from a JSON control file, re-read on every request so a test
// can change it while the simulator runs:
//   {"fail": [{"path_prefix": "/v1.0/users/", "method": "GET", "status": 429,
//              "retry_after": 2, "count": 1},
//             {"status": 503, "count": 2},
//             {"path_prefix": "/v1.0/users/", "delay_ms": 2000}],
//    "delay_ms": 0}
// Rules are tried in order; the first that matches and has count left applies
// (count absent: unlimited) and is consumed. A rule delays (delay_ms) and/or
// answers `status`; with "served": true the request is served first (a code redeemed, a
// client assertion used up) and its answer replaced, as when a front end fails after the
// service acted. Counters restart whenever the file's content changes.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace icalgate::graphsim {

struct Fault {
  int status = 0;       // 0: no error answer, only the delay
  int retry_after = -1; // seconds; -1: no Retry-After header
  std::int64_t delay_ms = 0;
  bool served = false; // the request's effects happen; only its answer is the fault's
};

class FaultControl {
 public:
  FaultControl(std::string path, double fail_rate)
      : path_(std::move(path)), fail_rate_(fail_rate) {}

  // What to do with this request; nullopt: serve it normally.
  std::optional<Fault> decide(std::string_view method, std::string_view path);

 private:
  std::string path_;
  double fail_rate_;
  std::string content_;        // the control file as last read
  std::vector<long> consumed_; // per rule
};

} // namespace icalgate::graphsim
