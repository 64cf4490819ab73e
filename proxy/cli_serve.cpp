#include "proxy/cli_serve.hpp"

#include "proxy/admin_server.hpp"
#include "proxy/config.hpp"
#include "proxy/logging.hpp"
#include "proxy/login_broker.hpp"
#include "proxy/rewrite_service.hpp"
#include "proxy/server.hpp"
#include "proxy/tls_context.hpp"

#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <string>

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
  auto rewrite = RewriteService::create(io.get_executor(), config);
  if (!rewrite) {
    std::fprintf(stderr, "icalgate: %s\n", rewrite.error().message.c_str());
    return 1;
  }
  auto broker = LoginBroker::create(io.get_executor(), config);
  if (!broker) {
    std::fprintf(stderr, "icalgate: %s\n", broker.error().message.c_str());
    return 1;
  }
  // The web endpoint ([admin]); its certificate is loaded before anything listens.
  std::unique_ptr<AdminServer> admin;
  if (config.admin.listen) {
    auto created = AdminServer::create(io, config, {}, broker->get());
    if (auto* error = std::get_if<std::string>(&created)) {
      std::fprintf(stderr, "icalgate: %s\n", error->c_str());
      return 1;
    }
    admin = std::get<std::unique_ptr<AdminServer>>(std::move(created));
  }
  Server server(io, config, *std::get<0>(server_tls), *std::get<0>(upstream_tls), rewrite->get(),
                broker->get());
  if (auto error = server.start(); !error.empty()) {
    std::fprintf(stderr, "icalgate: %s\n", error.c_str());
    return 1;
  }
  if (admin) {
    if (auto error = admin->start(); !error.empty()) {
      std::fprintf(stderr, "icalgate: %s\n", error.c_str());
      return 1;
    }
  }
  log_event(LogLevel::info, "started",
            {field("upstream", config.upstream.host + ":" + std::to_string(config.upstream.port)),
             field("upstream_tls", std::string(to_string(config.upstream.tls))),
             field("rewrite", std::string(*rewrite ? "on" : "off"))});
  io.run();
  if (*rewrite) {
    const auto& c = (*rewrite)->counters();
    // "reason=count; …": every reason an original was delivered for, counted.
    std::string reasons;
    for (const auto& [reason, count] : c.original_reasons) {
      reasons += (reasons.empty() ? "" : "; ") + reason + '=' + std::to_string(count);
    }
    log_event(LogLevel::info, "rewrite_totals",
              {field("plain", c.plain), field("rewritten", c.rewritten),
               field("originals", c.originals), field("original_reasons", std::move(reasons)),
               field("listings", c.listings), field("listing_failures", c.listing_failures),
               field("listed_events", c.listed_events), field("carried", c.carried),
               field("announced", c.announced)});
  }
  return 0;
}

} // namespace icalgate::proxy
