// cmd/sim_cmd.cc — `agentplane sim`: N simulated vLLM replicas, one port each.
//
// Parses flags into sim::SimOptions, starts the replicas, prints one line per replica
// (`sim replica N listening on http://HOST:PORT`, flushed, so a test that passed --port 0 can
// read the ports) and serves until SIGINT/SIGTERM, then drains. It only wires flags to the sim
// module: no simulation logic lives here.
#include <csignal>
#include <cstdio>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "base/log.h"
#include "base/strings.h"
#include "cmd/commands.h"
#include "sim/sim.h"

namespace ap::cmd {
namespace {

struct SimFlags {
  sim::SimOptions options;
  int port = 8000;
  std::string latency_spike = "2s";
  std::string log_level = "info";
  std::string log_format = "text";
};

int RunSim(SimFlags flags) {
  log::Configure(flags.log_level, flags.log_format);
  auto spike = ParseDuration(flags.latency_spike);
  if (!spike) {
    std::fprintf(stderr, "error: --latency-spike: not a duration: %s\n", flags.latency_spike.c_str());
    return 2;
  }
  if (flags.port < 0 || flags.port + flags.options.replicas - 1 > 65535) {
    std::fprintf(stderr, "error: --port out of range\n");
    return 2;
  }
  flags.options.latency_spike = *spike;
  flags.options.port = static_cast<uint16_t>(flags.port);

  // Block the signals before serving so none is lost between start and wait.
  boost::asio::io_context signals_ctx;
  boost::asio::signal_set signals(signals_ctx, SIGINT, SIGTERM);
  sim::Simulator simulator(flags.options);
  std::string error;
  if (!simulator.Start(&error)) {
    std::fprintf(stderr, "error: %s\n", error.c_str());
    return 1;
  }
  const auto& c = simulator.config();
  std::fprintf(stderr,
               "sim: %s on %dx %s, %lld KV blocks of %d tokens, max_model_len %d, max_num_seqs %d\n",
               flags.options.model.c_str(), c.tensor_parallel, c.gpu.name.c_str(),
               static_cast<long long>(c.num_gpu_blocks), c.block_size, c.max_model_len,
               c.max_num_seqs);
  for (size_t i = 0; i < simulator.ports().size(); ++i)
    std::printf("sim replica %zu listening on http://%s:%u\n", i, flags.options.host.c_str(),
                static_cast<unsigned>(simulator.ports()[i]));
  std::fflush(stdout);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    log::Info("sim", "draining", {{"signal", sig}});
    simulator.Shutdown(std::chrono::milliseconds(5000));
  });
  signals_ctx.run();
  simulator.Wait();
  return 0;
}

}  // namespace

void AddSimCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<SimFlags>();
  auto* cmd = app.add_subcommand(
      "sim",
      "Run simulated vLLM-compatible model servers (OpenAI API, vLLM /metrics, DCGM GPU metrics).\n\n"
      "Examples:\n"
      "  agentplane sim                                        # one H100 replica of Llama-3.1-8B on :8000\n"
      "  agentplane sim --port 8000 --replicas 2 --gpu H100 --model meta-llama/Llama-3.1-8B-Instruct --seed 1\n"
      "  agentplane sim --port 0 --replicas 4 --gpu A10G      # free ports, printed one line per replica\n"
      "  agentplane sim --gpu H200 --model meta-llama/Llama-3.1-70B-Instruct   # tensor parallel 2\n"
      "  agentplane sim --error-rate 0.1 --latency-spike-rate 0.05 --latency-spike 3s --drop-rate 0.02\n"
      "  agentplane sim --time-scale 0.1                      # ten times faster than the hardware\n\n"
      "GPUs: A10G, L4, L40S, A100-40GB, A100-80GB (or A100), H100, H200. Models whose name contains\n"
      "\"70b\" are simulated as Llama-3.1-70B, all others as Llama-3.1-8B. See docs/sim.md.");
  sim::SimOptions& o = flags->options;
  cmd->add_option("--host", o.host, "Listen address")->capture_default_str();
  cmd->add_option("--port", flags->port, "First replica's port; replica i uses port+i; 0 picks free ports")
      ->capture_default_str();
  cmd->add_option("--replicas", o.replicas, "Number of replicas (one engine and one port each)")
      ->capture_default_str()->check(CLI::Range(1, 1024));
  cmd->add_option("--gpu", o.gpu, "GPU profile")->capture_default_str();
  cmd->add_option("--model", o.model, "Served model name")->capture_default_str();
  cmd->add_option("--seed", o.seed, "Seed for outputs and failure injection")->capture_default_str();
  cmd->add_option("--tensor-parallel", o.tensor_parallel, "GPUs per replica (0: usual for the model)")
      ->capture_default_str();
  cmd->add_option("--gpu-memory-utilization", o.gpu_memory_utilization,
                  "Fraction of GPU memory for weights, activations and KV cache")
      ->capture_default_str();
  cmd->add_option("--max-num-seqs", o.max_num_seqs, "Most requests in one batch")->capture_default_str();
  cmd->add_option("--max-num-batched-tokens", o.max_num_batched_tokens, "Token budget of one step")
      ->capture_default_str();
  cmd->add_option("--max-model-len", o.max_model_len, "Longest prompt + output")->capture_default_str();
  cmd->add_option("--max-loras", o.max_loras, "Most LoRA adapters active in one batch")->capture_default_str();
  cmd->add_option("--default-max-tokens", o.default_max_tokens, "max_tokens when a request gives none")
      ->capture_default_str();
  cmd->add_option("--embedding-dim", o.embedding_dim, "Embedding size")->capture_default_str();
  cmd->add_option("--error-rate", o.error_rate, "Fraction of generation requests answered 500")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--latency-spike-rate", o.latency_spike_rate,
                  "Fraction of requests delayed by --latency-spike before the first byte")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--latency-spike", flags->latency_spike, "Extra delay of a spike (e.g. 500ms, 3s)")
      ->capture_default_str();
  cmd->add_option("--drop-rate", o.drop_rate, "Fraction of responses cut mid-way by closing the connection")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--time-scale", o.time_scale, "Real seconds per simulated second (0.1 = 10x faster)")
      ->capture_default_str();
  cmd->add_option("--hostname", o.hostname, "Hostname label of the DCGM metrics (default: this host)");
  cmd->add_option("--log-level", flags->log_level, "debug, info, warn or error")->capture_default_str();
  cmd->add_option("--log-format", flags->log_format, "text or json")->capture_default_str();
  cmd->callback([flags, exit_code] { *exit_code = RunSim(*flags); });
}

}  // namespace ap::cmd
