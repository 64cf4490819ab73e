#include "proxy/cli_serve.hpp"

#include "proxy/config.hpp"
#include "proxy/logging.hpp"
#include "proxy/server.hpp"
#include "proxy/tls_context.hpp"

#include <boost/asio/io_context.hpp>

#include <cstdio>

namespace icalgate::proxy {

int run_serve(const std::string& config_path) {
  auto loaded = load_config_file(config_path);
  if (!loaded) {
    for (const auto& error : loaded.errors()) {
      std::fprintf(stderr, "%s\n", error.to_string().c_str());
    }
    return 2;
  }
  const Config& config = loaded.value();
  setup_logging(config.log);
  auto server_tls = ServerTlsContext::create(config.tls);
  if (auto* error = std::get_if<std::string>(&server_tls)) {
    std::fprintf(stderr, "icalgate: %s\n", error->c_str());
    return 1;
  }
  auto upstream_tls = UpstreamTlsContext::create(config.upstream);
  if (auto* error = std::get_if<std::string>(&upstream_tls)) {
    std::fprintf(stderr, "icalgate: %s\n", error->c_str());
    return 1;
  }
  // One thread: sessions, caps and caches are shared without locks.
  asio::io_context io(1);
  Server server(io, config, *std::get<0>(server_tls), *std::get<0>(upstream_tls));
  if (auto error = server.start(); !error.empty()) {
    std::fprintf(stderr, "icalgate: %s\n", error.c_str());
    return 1;
  }
  log_event(LogLevel::info, "started",
            {field("upstream", config.upstream.host + ":" + std::to_string(config.upstream.port)),
             field("upstream_tls", std::string(to_string(config.upstream.tls)))});
  io.run();
  return 0;
}

} // namespace icalgate::proxy
