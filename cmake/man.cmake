# man.cmake: turns the scdoc sources in docs/man/ into man pages
# (build/man/NAME.SECTION, target `man`, part of ALL) and installs them
# under man1/man5/man8, plus the bash completion of promisectl.
# Included from the top CMakeLists.txt after GNUInstallDirs.

find_program(SCDOC_EXECUTABLE scdoc)
if(NOT SCDOC_EXECUTABLE)
  message(FATAL_ERROR
    "scdoc not found: the man pages are written in scdoc. "
    "Install it (Debian: apt-get install scdoc, or run scripts/test, "
    "which installs the build dependencies of scripts/lib/deps.sh).")
endif()

set(PROMISED_MAN_PAGES promised.8 promisectl.1 promised.yaml.5)
set(PROMISED_MAN_OUTPUTS)
foreach(page ${PROMISED_MAN_PAGES})
  set(src ${PROJECT_SOURCE_DIR}/docs/man/${page}.scd)
  set(out ${PROJECT_BINARY_DIR}/man/${page})
  # scdoc reads stdin only; a shell redirect keeps the page whole when
  # scdoc fails (the partial output is removed so make retries).
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
    COMMAND sh -c "\"$1\" < \"$2\" > \"$3.tmp\" && mv \"$3.tmp\" \"$3\" || { rm -f \"$3.tmp\"; exit 1; }"
            scdoc ${SCDOC_EXECUTABLE} ${src} ${out}
    DEPENDS ${src}
    COMMENT "scdoc ${page}"
    VERBATIM)
  list(APPEND PROMISED_MAN_OUTPUTS ${out})
  string(REGEX MATCH "[0-9]$" section ${page})
  install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()
add_custom_target(man ALL DEPENDS ${PROMISED_MAN_OUTPUTS})

# The completion file is found by bash-completion's on-demand loader by
# the command's name.
install(FILES ${PROJECT_SOURCE_DIR}/completion/promisectl.bash
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
        RENAME promisectl)
