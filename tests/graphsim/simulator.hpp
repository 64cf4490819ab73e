#pragma once
// The simulated Graph and identity endpoints over a data directory:
//   DIR/clients.json                   app registrations (sim_clients.hpp)
//   DIR/users/{upn}/messages/*.json    one Graph collection response with one message each
//   DIR/reports/getEmailAppUsageUserDetail.csv
// Files are read on every request, so tests may change them while the simulator
// runs.
//
// Identity platform (sim_identity.hpp): GET /{tenant}/oauth2/v2.0/authorize (the
// authorization-code flow with PKCE), POST /{tenant}/oauth2/v2.0/devicecode, and
// /{tenant}/oauth2/v2.0/token with the client_credentials (Graph: opaque tokens; Exchange
// Online: JWTs), authorization_code, device_code and refresh_token grants. Test hooks under /_sim/
// (see sim_identity.hpp) plus:
//   POST /_sim/token-lifetime  seconds=N   lifetime of the access tokens issued from now on
//   GET /_stats, DELETE /_stats            counters (requests, tokens, identity flows)

#include "tests/graphsim/sim_faults.hpp"
#include "tests/graphsim/sim_identity.hpp"
#include "tests/graphsim/sim_message_files.hpp"
#include "tests/graphsim/sim_responses.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <cstddef>
#include <map>
#include <string>

namespace icalgate::graphsim {

using Request = boost::beast::http::request<boost::beast::http::string_body>;

struct SimOptions {
  std::string data_dir;
  std::string control_file;
  std::chrono::seconds token_lifetime{3599};
  std::string jwt_key; // raw HS256 key for Exchange Online tokens (--jwt-key FILE's bytes)
  std::chrono::seconds device_code_lifetime{900};
  std::chrono::seconds device_code_interval{5};
  double fail_rate = 0;
  std::string listen_host = "127.0.0.1";
  unsigned short listen_port = 0;
  std::size_t max_connections = 128;
};

struct SimStats {
  std::size_t requests = 0;
  std::size_t in_flight = 0;
  std::size_t max_in_flight = 0;
  std::size_t tokens_issued = 0;
  std::map<std::string, std::size_t> user_in_flight;
  std::map<std::string, std::size_t> user_max_in_flight;
  std::map<std::string, std::size_t> by_status;
};

class Simulator {
 public:
  explicit Simulator(SimOptions options)
      : options_(std::move(options)), faults_(options_.control_file, options_.fail_rate),
        identity_(IdentityOptions{options_.jwt_key, options_.device_code_lifetime,
                                  options_.device_code_interval}) {}

  boost::asio::awaitable<Response> handle(const Request& request);
  const SimOptions& options() const { return options_; }

 private:
  Response route(const Request& request, const std::string& path, const std::string& query);
  // The token and devicecode endpoints of the identity platform.
  Response token(const Request& request, const std::string& tenant, bool device_code_endpoint);
  Response authorize(const Request& request, const std::string& path, const std::string& tenant,
                     const std::string& query);
  Response client_credentials(const ClientApp& client, const Form& form);
  std::optional<Response> sim_control(const Request& request, const std::string& path);
  Response messages(const Request& request, const std::string& upn, const std::string& query);
  Response event(const std::string& upn, const std::string& id);
  Response report(const Request& request, const std::string& period);
  Response download(const std::string& name);
  Response stats_json() const;
  // Empty when the bearer token is good; else the 401.
  std::optional<Response> check_token(const Request& request);

  SimOptions options_;
  FaultControl faults_;
  SimStats stats_;
  IdentityPlatform identity_;
  std::map<std::string, std::chrono::steady_clock::time_point> tokens_;
  MessageFiles message_files_;
};

} // namespace icalgate::graphsim
