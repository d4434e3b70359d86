# Sanitizer builds, switched on per build dir (CMakePresets.json: asan-ubsan,
# tsan). The flags ride on slotwise_warnings, the INTERFACE target every
# project target links, so libraries, binaries and tests are instrumented
# alike; third-party libraries (Paho, RocksDB, Protobuf) are not.
#   SLOTWISE_SANITIZE  AddressSanitizer + UndefinedBehaviorSanitizer
#   SLOTWISE_TSAN      ThreadSanitizer (cannot be combined with ASan)
# UBSan findings are not recoverable (-fno-sanitize-recover): the first one
# aborts the process, so a test that triggers one fails.
option(SLOTWISE_SANITIZE "Build with -fsanitize=address,undefined" OFF)
option(SLOTWISE_TSAN "Build with -fsanitize=thread" OFF)

if(SLOTWISE_SANITIZE AND SLOTWISE_TSAN)
  message(FATAL_ERROR "SLOTWISE_SANITIZE (ASan) and SLOTWISE_TSAN cannot be used in one build dir")
endif()

if(SLOTWISE_SANITIZE)
  target_compile_options(slotwise_warnings INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(slotwise_warnings INTERFACE -fsanitize=address,undefined -fno-sanitize-recover=all)
endif()

if(SLOTWISE_TSAN)
  target_compile_options(slotwise_warnings INTERFACE -fsanitize=thread -fno-omit-frame-pointer)
  target_link_options(slotwise_warnings INTERFACE -fsanitize=thread)
endif()
