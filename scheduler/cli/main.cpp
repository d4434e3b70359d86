#include "commands.h"

int main(int argc, char** argv) { return slotwise::cli::RunCli(argc, argv); }
