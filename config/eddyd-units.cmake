# config/eddyd-units.cmake - run by `cmake --install` (install(CODE) in
# CMakeLists.txt): writes eddyd.service with the paths of the prefix being
# installed to, which `cmake --install --prefix DIR` may change after
# configuring.  In: EDDY_SOURCE_DIR, EDDY_BINARY_DIR, EDDY_UNIT_DIR and the
# GNUInstallDirs directories (relative ones are under CMAKE_INSTALL_PREFIX).
foreach(dir BINDIR SYSCONFDIR DOCDIR)
  if(IS_ABSOLUTE "${EDDY_${dir}}")
    set(CMAKE_INSTALL_FULL_${dir} "${EDDY_${dir}}")
  else()
    set(CMAKE_INSTALL_FULL_${dir} "${CMAKE_INSTALL_PREFIX}/${EDDY_${dir}}")
  endif()
endforeach()
if(IS_ABSOLUTE "${EDDY_UNIT_DIR}")
  set(EDDY_SYSTEMD_UNIT_DIR "${EDDY_UNIT_DIR}")
else()
  set(EDDY_SYSTEMD_UNIT_DIR "${CMAKE_INSTALL_PREFIX}/${EDDY_UNIT_DIR}")
endif()
set(unit_dir "$ENV{DESTDIR}${EDDY_SYSTEMD_UNIT_DIR}")
configure_file("${EDDY_SOURCE_DIR}/config/eddyd.service.in" "${EDDY_BINARY_DIR}/eddyd.service" @ONLY)
file(INSTALL "${EDDY_BINARY_DIR}/eddyd.service" "${EDDY_SOURCE_DIR}/config/eddyd.socket"
     DESTINATION "${unit_dir}")
