set terminal pngcairo size 800,480 font 'sans,10'
set output "fig8.png"
set title "Figure 8: CPU per process, tripwire in the idle class (idle, round 1)"
set grid
set style fill solid 0.6 border -1
set key outside right
set xlabel "seconds since the daemon started"
set ylabel "CPU (% of the vCPU, the guest's view)"
set yrange [0:*]
plot "fig8.dat" using 1:2:3 with filledcurves title "tripwire", \
  "fig8.dat" using 1:(0):2 with filledcurves title "lighttpd"
