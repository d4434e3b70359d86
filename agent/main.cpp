// slotwise-agent: see agent/README.md. Everything lives in slotwise_agent.
#include "slotwise/agent/program.h"

int main(int argc, char** argv) { return slotwise::agent::RunAgentProgram(argc, argv); }
